import pg from 'pg';

/** One statement as the local cluster's superuser, over TCP on loopback. */
export async function superuserQuery<T extends pg.QueryResultRow>(port: number, password: string, text: string): Promise<T[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
