// The real agent process against dynalite: membership, store outages, exit. A witness needs no
// database, so these run without PostgreSQL; the database checks are covered by local-cluster.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allowNode } from '../../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { freePort } from '../../cli/local/processes.ts';
import { AGENT_BIN, runCli, startAgent, stopChild } from '../support/cli.ts';
import { startDynalite, type TestStore } from '../support/dynalite.ts';
import { pollUntil } from '../support/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgfailover-agent-test-'));
const agents: ReturnType<typeof startAgent>[] = [];
const stores: TestStore[] = [];

function witnessConfig(name: string, endpoint: string, cluster = 'agents'): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      cluster,
      nodeId: name,
      role: 'witness',
      address: `${name}.test`,
      heartbeatIntervalMs: 200,
      timeouts: { nodeTimeoutMs: 2000 },
      store: { endpoint, region: 'local' },
    }),
  );
  return path;
}

function launch(configPath: string) {
  const agent = startAgent(configPath);
  agents.push(agent);
  return agent;
}

let dynamo: TestStore;
beforeAll(async () => {
  dynamo = await startDynalite();
  stores.push(dynamo);
  await dynamo.store.initCluster({ cluster: 'agents', policy: DEFAULT_CLUSTER_POLICY }, Date.now());
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => stopChild(agent)));
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('agent process', () => {
  it('records heartbeats from a node that is not allowed as rejected, then is counted once allowed', async () => {
    // Prepare
    const agent = launch(witnessConfig('w1', dynamo.endpoint));
    // Act / Assess: rejected, never stored as a heartbeat.
    const rejected = await pollUntil(
      'a rejected heartbeat',
      async () => (await dynamo.store.readSnapshot('agents')).rejected.find((entry) => entry.nodeId === 'w1'),
      15_000,
    );
    expect(rejected.reason).toMatch(
      /not in the allowed node list.*pgfailover allow-node --cluster agents w1 --address w1\.test/,
    );
    expect((await dynamo.store.readSnapshot('agents')).heartbeats.some((beat) => beat.nodeId === 'w1')).toBe(false);

    // Act: the administrator allows it through the real CLI.
    const allowed = await runCli([
      'allow-node',
      'w1',
      '--address',
      'w1.test',
      '--cluster',
      'agents',
      '--endpoint',
      dynamo.endpoint,
      '--region',
      'local',
    ]);
    // Assess
    expect(allowed).toMatchObject({ code: 0 });
    const beat = await pollUntil(
      'an accepted heartbeat',
      async () => (await dynamo.store.readSnapshot('agents')).heartbeats.find((entry) => entry.nodeId === 'w1'),
      15_000,
    );
    expect(beat).toMatchObject({ agentType: 'witness', agentStatus: 'UP', dbStatus: 'N/A' });
    expect((await dynamo.store.readSnapshot('agents')).rejected.some((entry) => entry.nodeId === 'w1')).toBe(false);
    expect(agent.output()).toContain('heartbeat rejected');
  });

  it('rejects a node whose address differs from the allowed one', async () => {
    await dynamo.store.updateMembership(
      'agents',
      (current) => allowNode(current, { nodeId: 'w2', address: '10.0.0.2' }),
      Date.now(),
    );
    launch(witnessConfig('w2', dynamo.endpoint));
    const rejected = await pollUntil(
      'a rejected heartbeat',
      async () => (await dynamo.store.readSnapshot('agents')).rejected.find((entry) => entry.nodeId === 'w2'),
      15_000,
    );
    expect(rejected.reason).toMatch(/allowed with address 10\.0\.0\.2 but this agent reports w2\.test/);
  });

  it('marks itself EXITED in the store on SIGTERM and exits 0', async () => {
    // Prepare
    await dynamo.store.updateMembership(
      'agents',
      (current) => allowNode(current, { nodeId: 'w3', address: 'w3.test' }),
      Date.now(),
    );
    const agent = launch(witnessConfig('w3', dynamo.endpoint));
    await pollUntil(
      'a first heartbeat',
      async () => (await dynamo.store.readSnapshot('agents')).heartbeats.find((beat) => beat.nodeId === 'w3'),
      15_000,
    );
    // Act
    const code = await stopChild(agent);
    // Assess
    expect(code).toBe(0);
    const last = (await dynamo.store.readSnapshot('agents')).heartbeats.find((beat) => beat.nodeId === 'w3');
    expect(last?.agentStatus).toBe('EXITED');
  });

  it('keeps running while the state store is unreachable, and reports once it is back', async () => {
    // Prepare: an endpoint where nothing listens yet.
    const port = await freePort();
    const agent = launch(witnessConfig('w4', `http://127.0.0.1:${port}`, 'outage'));
    await pollUntil(
      'the agent to log the store failure',
      () => (agent.output().includes('cannot write heartbeat to the state store') ? true : undefined),
      15_000,
    );
    expect(agent.exitCode).toBeNull();
    // Act: the store comes up on that port.
    const late = await startDynalite('pgfailover', port);
    stores.push(late);
    await late.store.initCluster({ cluster: 'outage', policy: DEFAULT_CLUSTER_POLICY }, Date.now());
    await late.store.updateMembership(
      'outage',
      (current) => allowNode(current, { nodeId: 'w4', address: 'w4.test' }),
      Date.now(),
    );
    // Assess: within the backoff cap (10 s) the agent reports.
    const beat = await pollUntil(
      'a heartbeat after the outage',
      async () => (await late.store.readSnapshot('outage')).heartbeats.find((entry) => entry.nodeId === 'w4'),
      20_000,
      200,
    );
    expect(beat.agentStatus).toBe('UP');
    expect(agent.exitCode).toBeNull();
    expect(agent.output()).toContain('state store reachable again');
  });

  it('creates a cluster with its address settings through the CLI, and refuses incomplete ones', async () => {
    const store = ['--endpoint', dynamo.endpoint, '--region', 'local'];
    const refused = await runCli([
      'init',
      '--cluster',
      'aws1',
      '--address-mode',
      'route-table',
      '--address',
      '192.168.100.10',
      ...store,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--address-mode route-table needs --route-table/);
    expect(await dynamo.store.getCluster('aws1')).toBeUndefined();
    const created = await runCli([
      'init',
      '--cluster',
      'aws1',
      '--address-mode',
      'eip',
      '--address',
      '203.0.113.7',
      '--allocation-id',
      'eipalloc-0abc',
      '--no-auto-failover',
      ...store,
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(await dynamo.store.getCluster('aws1')).toMatchObject({
      address: { mode: 'eip', value: '203.0.113.7', allocationId: 'eipalloc-0abc', holderNodeId: null },
      policy: { autoFailover: false },
    });
    const again = await runCli(['init', '--cluster', 'aws1', ...store]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/cluster aws1 already exists/);
  });

  it('refuses an invalid config with every problem and exit code 2', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify({
        cluster: 'x',
        nodeId: 'n1',
        address: 'a',
        role: 'witness',
        heartbeatIntervalMs: 0,
        colour: 'blue',
      }),
    );
    const result = await runCli(['--config', path], {}, AGENT_BIN);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${path} is not valid`);
    expect(result.stderr).toMatch(/heartbeatIntervalMs/);
    expect(result.stderr).toMatch(/colour: unknown key/);
  });
});
