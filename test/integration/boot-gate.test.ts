// The boot gate that PostgreSQL's unit runs before every start (pgfailover-agent --boot-gate, the drop-in's
// ExecStartPre), as the real process against dynalite and a data directory: it lets a standby and the
// primary of the term start, marks an old primary a standby of the new one first, waits while the store
// is away, and lets a host that is not configured yet start its server.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../cli/local/processes.ts';
import { allowNode } from '../../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { AGENT_BIN, runCli, stopChild } from '../support/cli.ts';
import { startDynalite, type TestStore } from '../support/dynalite.ts';
import { pollUntil } from '../support/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgfailover-boot-gate-'));
const stores: TestStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
/** A data directory (PG_VERSION and postgresql.conf, as initdb leaves them) and db1's config naming it. */
function node(endpoint: string, cluster: string): { config: string; dataDirectory: string } {
  const base = join(dir, `case-${++count}`);
  const dataDirectory = join(base, 'data');
  mkdirSync(dataDirectory, { recursive: true });
  writeFileSync(join(dataDirectory, 'PG_VERSION'), '15\n');
  writeFileSync(join(dataDirectory, 'postgresql.conf'), '');
  const config = join(base, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      cluster,
      nodeId: 'db1',
      address: '10.0.0.10',
      store: { endpoint, region: 'local' },
      database: { dataDirectory, passwordFile: join(base, 'password') },
      replication: { user: 'replicator', sslmode: 'require' },
      postgres: { unit: false },
    }),
  );
  return { config, dataDirectory };
}

async function seeded(cluster: string, primaryNodeId: string): Promise<TestStore> {
  const dynamo = await startDynalite();
  stores.push(dynamo);
  await dynamo.store.initCluster({ cluster, policy: DEFAULT_CLUSTER_POLICY, primaryNodeId }, Date.now());
  await dynamo.store.updateMembership(
    cluster,
    (current) =>
      allowNode(allowNode(current, { nodeId: 'db1', address: '10.0.0.10' }), {
        nodeId: 'db2',
        address: '10.0.0.11:5433',
      }),
    Date.now(),
  );
  return dynamo;
}

const gate = (config: string) => runCli(['--config', config, '--boot-gate'], {}, AGENT_BIN);

describe('the boot gate (ExecStartPre of PostgreSQL)', () => {
  it('marks an old primary a standby of the primary of the term before it may start', async () => {
    // Prepare: the store names db2 primary; db1's data directory holds no standby.signal.
    const dynamo = await seeded('gate1', 'db2');
    const db1 = node(dynamo.endpoint, 'gate1');
    // Act
    const result = await gate(db1.config);
    // Assess
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(
      /PostgreSQL may start: term \d+ names db2, not db1: it comes back as a standby of db2/,
    );
    expect(existsSync(join(db1.dataDirectory, 'standby.signal'))).toBe(true);
    expect(readFileSync(join(db1.dataDirectory, 'postgresql.auto.conf'), 'utf8')).toMatch(
      /primary_conninfo = 'host=10\.0\.0\.11 port=5433 user=replicator application_name=db1 sslmode=require/,
    );
  });

  it('lets the primary of the term start as it is, and a standby start without the store', async () => {
    // Prepare
    const dynamo = await seeded('gate2', 'db1');
    const primary = node(dynamo.endpoint, 'gate2');
    const standby = node(`http://127.0.0.1:${await freePort()}`, 'gate2');
    writeFileSync(join(standby.dataDirectory, 'standby.signal'), '');
    // Act
    const [asPrimary, asStandby] = await Promise.all([gate(primary.config), gate(standby.config)]);
    // Assess
    expect(asPrimary.stdout).toMatch(/PostgreSQL may start: this node is the primary of term/);
    expect(existsSync(join(primary.dataDirectory, 'standby.signal'))).toBe(false);
    expect(asStandby).toMatchObject({ code: 0 });
    expect(asStandby.stdout).toMatch(/standby.signal is in the data directory/);
  });

  it('waits while the store does not answer, and decides once it does', async () => {
    // Prepare: nothing listens on the store's port yet.
    const port = await freePort();
    const db1 = node(`http://127.0.0.1:${port}`, 'gate3');
    const child = spawn(process.execPath, [AGENT_BIN, '--config', db1.config, '--boot-gate'], { stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Act & Assess: it says why PostgreSQL waits, and does not exit.
      await pollUntil('the gate to say it waits', () => (/PostgreSQL waits/.test(output) ? true : undefined), 20_000);
      expect(child.exitCode).toBeNull();
      // The store comes up there, naming db2 primary: db1 is marked a standby and may start.
      const dynamo = await startDynalite('pgfailover', port);
      stores.push(dynamo);
      await dynamo.store.initCluster(
        { cluster: 'gate3', policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db2' },
        Date.now(),
      );
      expect(await exited).toBe(0);
      expect(output).toMatch(/it comes back as a standby of db2/);
      expect(existsSync(join(db1.dataDirectory, 'standby.signal'))).toBe(true);
    } finally {
      await stopChild(child);
    }
  });

  it('lets the server start on a host that is installed but not configured yet', async () => {
    const result = await gate(join(dir, 'absent.json'));
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/not in a pgfailover cluster yet; PostgreSQL may start/);
  });
});
