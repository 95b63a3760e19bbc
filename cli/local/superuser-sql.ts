import pg from 'pg';

/** Where a local server is reached from this process: TCP on loopback, or (in the lab) its Unix socket directory. */
export interface SqlTarget {
  host: string;
  port: number;
}

/** One statement as the local cluster's superuser. A bare number is a TCP port on 127.0.0.1. */
export async function superuserQuery<T extends pg.QueryResultRow>(
  target: SqlTarget | number,
  password: string,
  text: string,
): Promise<T[]> {
  const { host, port } = typeof target === 'number' ? { host: '127.0.0.1', port: target } : target;
  const client = new pg.Client({
    host,
    port,
    user: 'postgres',
    database: 'postgres',
    ssl: false,
    password,
    connectionTimeoutMillis: 3000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
