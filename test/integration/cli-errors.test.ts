// The CLI's exit codes and messages as a monitoring script and a person see them: 0 ok, 1 cluster-status
// found problems, 2 bad input (commander's own errors included), 3 anything else; store failures told as
// what to do, never as the SDK's raw words; an unknown cluster is an error everywhere.

import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { heartbeat, primaryHeartbeat } from '../support/fixtures.ts';
import { runCli } from '../support/cli.ts';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';
import { freePort } from '../../cli/local/processes.ts';

let dynamo: TestStore;
/** A server on loopback that answers every request as a proxy's error page would. */
const notDynamo = {
  server: createServer((_req, res) =>
    res.writeHead(403, { 'content-type': 'text/html' }).end('<html>Forbidden</html>'),
  ),
  url: '',
};
beforeAll(async () => {
  await new Promise<void>((resolve) => notDynamo.server.listen(0, '127.0.0.1', resolve));
  const address = notDynamo.server.address();
  notDynamo.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  dynamo = await startDynalite();
  await dynamo.store.initCluster({ cluster: 'prod', policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' }, Date.now());
});
afterAll(async () => {
  notDynamo.server.close();
  await dynamo.close();
});

const at = () => ['--endpoint', dynamo.endpoint, '--region', 'local'];

describe('exit codes and messages', () => {
  it.each<[string, () => Promise<string[]>, Record<string, string>, number, RegExp]>([
    ['an unknown option (commander)', async () => ['cluster-status', '--bogus'], {}, 2, /unknown option '--bogus'/],
    [
      'a missing required option (commander)',
      async () => ['switchover'],
      {},
      2,
      /required option '--to <node>' not specified/,
    ],
    ['an unknown command (commander)', async () => ['clusterstatus'], {}, 2, /unknown command 'clusterstatus'/],
    [
      'a cluster that does not exist, for history',
      async () => ['history', '--cluster', 'prdo', ...at()],
      {},
      2,
      /there is no cluster prdo in table pgfailover; it holds prod/,
    ],
    [
      'a cluster that does not exist, for cluster-status',
      async () => ['cluster-status', '--cluster', 'prdo', ...at()],
      {},
      2,
      /there is no cluster prdo/,
    ],
    [
      'a table that does not exist',
      async () => ['history', '--table', 'pgfailover-typo', ...at()],
      {},
      2,
      /table pgfailover-typo does not exist in the store at http:\/\/127\.0\.0\.1:\d+: check --table/,
    ],
    [
      'no region',
      async () => ['history', '--cluster', 'prod'],
      { AWS_REGION: '', PGFAILOVER_STORE_ENDPOINT: '' },
      2,
      /no AWS region is set for the state table: pass --region REGION, set AWS_REGION/,
    ],
    [
      'nothing listening at the endpoint',
      async () => [
        'history',
        '--cluster',
        'prod',
        '--endpoint',
        `http://127.0.0.1:${await freePort()}`,
        '--region',
        'local',
      ],
      {},
      3,
      /nothing answers at the store at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): check --endpoint/,
    ],
    [
      'an endpoint that answers, but not as DynamoDB (a proxy error page)',
      async () => ['history', '--cluster', 'prod', '--endpoint', notDynamo.url, '--region', 'local'],
      {},
      3,
      /the store at http:\/\/127\.0\.0\.1:\d+ answered with HTTP 403, not as DynamoDB does: check --endpoint/,
    ],
  ])('%s', async (_name, args, env, code, message) => {
    // Act
    const result = await runCli(await args(), env);
    // Assess
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(
      /Region is missing|Could not load credentials|ResourceNotFoundException|UnknownError/,
    );
  });

  it('--help and --version exit 0', async () => {
    expect((await runCli(['--version'])).code).toBe(0);
    expect((await runCli(['local', '--help'])).code).toBe(0);
  });

  it('reports as JSON with --json (init, allow-node, set-priority)', async () => {
    const init = await runCli(['init', '--cluster', 'json1', '--json', ...at()]);
    const allow = await runCli(['allow-node', 'db1', '--address', '10.0.5.1', '--cluster', 'json1', '--json', ...at()]);
    const allow2 = await runCli([
      'allow-node',
      'db2',
      '--address',
      '10.0.5.2',
      '--cluster',
      'json1',
      '--json',
      ...at(),
    ]);
    const priority = await runCli(['set-priority', 'db2', '1', '--cluster', 'json1', '--json', ...at()]);
    expect(JSON.parse(init.stdout)).toMatchObject({ cluster: 'json1', term: 1, policy: { autoFailover: true } });
    expect(JSON.parse(allow.stdout)).toMatchObject({ node: 'db1', role: 'database', priority: ['db1'] });
    expect(JSON.parse(allow2.stdout)).toMatchObject({ priority: ['db1', 'db2'] });
    expect(JSON.parse(priority.stdout)).toEqual({ cluster: 'json1', priority: ['db2', 'db1'] });
  });

  it('a known cluster still works, and history says so when it is empty', async () => {
    const result = await runCli(['history', '--cluster', 'prod', ...at()]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/no history yet/);
  });
});

describe('safe membership from the CLI', () => {
  beforeAll(async () => {
    // A running cluster "live": db1 primary, db2 and db3 standbys, every agent reporting (sent "a minute
    // from now", so that they stay fresh for the whole test on cluster-status's send-time judgement).
    await seedCluster(dynamo.store, 'live', '10.0.1.');
    await dynamo.store.putHeartbeat(
      primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: 'live', sentAtMs: Date.now() + 60_000 }),
    );
    for (const id of ['db2', 'db3'])
      await dynamo.store.putHeartbeat(heartbeat(id, { cluster: 'live', sentAtMs: Date.now() + 60_000 }));
  });
  const live = () => ['--cluster', 'live', ...at()];

  it.each<[string, string[], RegExp]>([
    [
      'removing the primary',
      ['remove-node', 'db1'],
      /refused: db1 is the primary of the cluster.*Nothing was changed; --force makes the change anyway/,
    ],
    [
      're-addressing a running node',
      ['allow-node', 'db2', '--address', '10.0.9.9'],
      /refused: db2 is running with address 10\.0\.1\.11/,
    ],
    ['priority 99', ['set-priority', 'db3', '99'], /refused: priority 99 is past the end/],
    [
      'the primary in the priority list',
      ['set-priority', 'db1', '1'],
      /refused: db1 is the primary: it is not a promotion candidate/,
    ],
  ])('refuses %s with exit 2, the reason and the safe way, and changes nothing', async (_name, args, message) => {
    const before = await dynamo.store.getMembership('live');
    const result = await runCli([...args, ...live()]);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(await dynamo.store.getMembership('live')).toEqual(before);
  });

  it('records every change in the history with who and why, and a forced one as forced', async () => {
    // Act
    const moved = await runCli(['set-priority', 'db3', '1', '--reason', 'db3 has the faster disks', ...live()]);
    const forced = await runCli([
      'allow-node',
      'db2',
      '--address',
      '10.0.9.9',
      '--force',
      '--reason',
      'new ENI',
      ...live(),
    ]);
    // Assess
    expect(moved.code, moved.stderr).toBe(0);
    expect(forced.code, forced.stderr).toBe(0);
    const changes = (await dynamo.store.readHistory('live')).entries.filter((entry) => entry.kind === 'change');
    expect(changes.map((entry) => [entry.event, entry.severity, entry.subject])).toEqual([
      ['set-priority', 'INFO', 'db3 moved to priority 1'],
      ['allow-node', 'WARNING', 'db2 (10.0.9.9) allowed as a database node (forced)'],
    ]);
    expect(changes[0]?.body).toMatch(/By: .+@.+\nWhy: db3 has the faster disks/);
    expect(changes[1]?.body).toMatch(/Forced past: db2 is running with address 10\.0\.1\.11/);
    const history = await runCli(['history', ...live()]);
    expect(history.stdout).toMatch(/CHANGE +set-priority: db3 moved to priority 1 \[.+@.+\]/);
  });
});

describe('resume from the CLI', () => {
  it('takes a halted cluster back to steady in a new term, records it, and refuses a cluster that is not halted', async () => {
    // Prepare: a failover halted in term 2 (the fencing hook said no); db1 down, db2 and db3 standbys.
    const created = await seedCluster(dynamo.store, 'stuck', '10.0.2.');
    await dynamo.store.writeCluster(
      {
        ...created,
        version: 2,
        term: 2,
        primaryNodeId: 'db2',
        phase: 'halted',
        failover: {
          kind: 'failover',
          fromNodeId: 'db1',
          toNodeId: 'db2',
          startedAtMs: Date.now(),
          reason: 'db1 down',
          promotedAtMs: null,
          addressMovedAtMs: null,
        },
      },
      { version: 1, leaseRenewals: 0 },
    );
    await dynamo.store.putHeartbeat(
      heartbeat('db1', {
        cluster: 'stuck',
        agentType: 'idle',
        dbStatus: 'DOWN',
        dbInfo: 'down',
        receivedLsn: null,
        replayedLsn: null,
        sentAtMs: Date.now() + 60_000,
      }),
    );
    for (const id of ['db2', 'db3'])
      await dynamo.store.putHeartbeat(heartbeat(id, { cluster: 'stuck', sentAtMs: Date.now() + 60_000 }));
    // Act
    const resumed = await runCli(['resume', '--cluster', 'stuck', '--reason', 'fencing device fixed', ...at()]);
    const again = await runCli(['resume', '--cluster', 'stuck', ...at()]);
    // Assess
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(
      /cluster stuck: resumed from halted: no database is writable: db1 recorded as the failed primary of term 3/,
    );
    expect(await dynamo.store.getCluster('stuck')).toMatchObject({
      phase: 'steady',
      term: 3,
      primaryNodeId: 'db1',
      failover: null,
    });
    expect(
      (await dynamo.store.readHistory('stuck')).entries
        .filter((entry) => entry.kind === 'change')
        .map((entry) => entry.event),
    ).toEqual(['resume']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(
      /cluster stuck is neither paused nor halted \(phase steady\); there is nothing to resume/,
    );
  });
});

/** A cluster of db1 (primary), db2, db3 and witness w1, every agent reporting (sent a minute ahead). */
async function runningCluster(name: string, primaryFailed: boolean): Promise<void> {
  await seedCluster(dynamo.store, name, '10.0.3.', {
    extra: [{ nodeId: 'w1', address: '10.0.3.20', role: 'witness' }],
  });
  const sentAtMs = Date.now() + 60_000;
  const check = primaryFailed
    ? { primaryNodeId: 'db1', status: 'DOWN' as const, reason: 'connection refused' }
    : { primaryNodeId: 'db1', status: 'UP' as const, reason: '' };
  await dynamo.store.putHeartbeat(
    primaryFailed
      ? heartbeat('db1', {
          cluster: name,
          agentType: 'idle',
          dbStatus: 'DOWN',
          dbInfo: 'database down: connection refused',
          receivedLsn: null,
          replayedLsn: null,
          currentLsn: null,
          sentAtMs,
        })
      : primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: name, sentAtMs }),
  );
  for (const id of ['db2', 'db3'])
    await dynamo.store.putHeartbeat(heartbeat(id, { cluster: name, sentAtMs, primaryCheck: check }));
  await dynamo.store.putHeartbeat(
    heartbeat('w1', {
      cluster: name,
      sentAtMs,
      agentType: 'witness',
      dbStatus: 'N/A',
      receivedLsn: null,
      replayedLsn: null,
      primaryCheck: check,
    }),
  );
}

describe('promote from the CLI', () => {
  it('with a healthy primary, asks for a switchover to the best standby and records who asked', async () => {
    // Prepare
    await runningCluster('pro1', false);
    // Act
    const result = await runCli(['promote', '--no-wait', '--reason', 'patching db1', '--cluster', 'pro1', ...at()]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/switchover to db2 of pro1 requested/);
    expect((await dynamo.store.getCluster('pro1'))?.switchover).toMatchObject({ toNodeId: 'db2' });
    const change = (await dynamo.store.readHistory('pro1')).entries.find((entry) => entry.kind === 'change');
    expect(change).toMatchObject({ event: 'promote-switchover', subject: 'switchover to db2 asked for' });
    expect(change?.body).toMatch(/Why: patching db1/);
  });

  it.each<[string, boolean, string[], RegExp]>([
    [
      '--switchover when the primary has failed',
      true,
      ['--switchover'],
      /switchover refused: a switchover needs a healthy primary.*the database of primary db1 is DOWN/,
    ],
    [
      'a manual failover to the witness',
      true,
      ['--target', 'w1'],
      /manual failover to w1 refused: w1 is a witness and has no database to promote/,
    ],
    [
      'a manual failover to a node that is not allowed',
      true,
      ['--target', 'db9'],
      /manual failover to db9 refused: db9 is not in the allowed node list/,
    ],
    [
      'a switchover to the primary itself',
      false,
      ['--target', 'db1'],
      /switchover to db1 refused: db1 is already the primary/,
    ],
  ])('refuses %s with exit 2 and changes nothing', async (_name, failed, args, message) => {
    // Prepare
    const name = `pro-${Math.random().toString(36).slice(2, 8)}`;
    await runningCluster(name, failed);
    const before = await dynamo.store.getCluster(name);
    // Act
    const result = await runCli(['promote', '--no-wait', ...args, '--cluster', name, ...at()]);
    // Assess
    expect(result.code, result.stdout).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(await dynamo.store.getCluster(name)).toEqual(before);
  });

  it("refuses a manual failover the peers have not confirmed, with the evaluator's reason", async () => {
    // Prepare: db1 reports its database DOWN but the standbys still reach it.
    await runningCluster('pro2', true);
    for (const id of ['db2', 'db3'])
      await dynamo.store.putHeartbeat(
        heartbeat(id, {
          cluster: 'pro2',
          seq: 11,
          sentAtMs: Date.now() + 60_000,
          primaryCheck: { primaryNodeId: 'db1', status: 'UP', reason: '' },
        }),
      );
    // Act
    const result = await runCli(['promote', '--no-wait', '--cluster', 'pro2', ...at()]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/manual failover refused: .*failure not confirmed/);
    expect((await dynamo.store.getCluster('pro2'))?.promotion).toBeNull();
  });

  it('records a confirmed manual failover for the evaluator, says what it waits for, and withdraws it on timeout', async () => {
    // Prepare
    await runningCluster('pro3', true);
    // Act: nobody evaluates here, so the request is recorded, followed for a second, and withdrawn.
    const result = await runCli(['promote', '--timeout-ms', '1000', '--cluster', 'pro3', ...at()]);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/manual failover to db2 of pro3 requested/);
    expect(result.stdout).toMatch(/waiting first: .*lease may still be valid/);
    expect(result.stdout).toMatch(
      /did not complete \(not finished within 1000 ms; see pgfailover history\); the request was withdrawn/,
    );
    expect((await dynamo.store.getCluster('pro3'))?.promotion).toBeNull();
    const events = (await dynamo.store.readHistory('pro3')).entries.map((entry) => entry.event);
    expect(events).toContain('promote-failover');
  });
});

describe('pause, resume and set-policy from the CLI', () => {
  it('pauses (once), shows it in cluster-status, resumes, and records both', async () => {
    // Prepare
    await runningCluster('mnt1', false);
    // Act
    const paused = await runCli(['pause', '--reason', 'minor upgrade', '--cluster', 'mnt1', ...at()]);
    const twice = await runCli(['pause', '--cluster', 'mnt1', '--json', ...at()]);
    const status = await runCli(['cluster-status', '--cluster', 'mnt1', ...at()]);
    const record = await dynamo.store.getCluster('mnt1');
    const resumed = await runCli(['resume', '--cluster', 'mnt1', ...at()]);
    // Assess
    expect(paused.code, paused.stderr).toBe(0);
    expect(record?.pause).toMatchObject({ reason: 'minor upgrade' });
    expect(JSON.parse(twice.stdout)).toMatchObject({ paused: true, changed: false });
    expect(status.stdout).toMatch(/PAUSED/);
    expect(status.stdout).toMatch(/paused since .*\(minor upgrade\)/);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/pause ended/);
    expect((await dynamo.store.getCluster('mnt1'))?.pause).toBeNull();
    const changes = (await dynamo.store.readHistory('mnt1')).entries.filter((entry) => entry.kind === 'change');
    expect(changes.map((entry) => entry.event)).toEqual(['pause', 'resume']);
  });

  it('changes the policy, prints what it means, records it; refuses a lease too short to work', async () => {
    // Prepare
    await runningCluster('pol1', false);
    // Act
    const dry = await runCli(['set-policy', '--lease-ms', '5000', '--dry-run', '--cluster', 'pol1', ...at()]);
    const afterDry = await dynamo.store.getCluster('pol1');
    const changed = await runCli([
      'set-policy',
      '--lease-ms',
      '5000',
      '--auto-failover',
      'off',
      '--reason',
      'flaky network',
      '--cluster',
      'pol1',
      ...at(),
    ]);
    const tooShort = await runCli(['set-policy', '--lease-ms', '1000', '--cluster', 'pol1', ...at()]);
    const nothing = await runCli(['set-policy', '--cluster', 'pol1', ...at()]);
    const json = await runCli(['set-policy', '--max-lag-bytes', '0', '--json', '--cluster', 'pol1', ...at()]);
    // Assess
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would change the policy of pol1: leaseDurationMs 2800 -> 5000/);
    expect(afterDry?.policy.leaseDurationMs).toBe(2800);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/nobody is promoted until 5050 ms after its last lease renewal/);
    expect(changed.stdout).toMatch(/blip tolerance: a primary rides out .* up to 4300 ms/);
    expect(changed.stdout).toMatch(/automatic failover off/);
    expect((await dynamo.store.getCluster('pol1'))?.policy).toMatchObject({
      leaseDurationMs: 5000,
      autoFailover: false,
    });
    expect(tooShort.code).toBe(2);
    expect(tooShort.stderr).toMatch(/a lease of 1000 ms is too short.*at least 1200 ms/);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/set-policy needs at least one of/);
    expect(JSON.parse(json.stdout)).toMatchObject({ changed: true, changes: ['maxLagBytes 16777216 -> 0'] });
    const change = (await dynamo.store.readHistory('pol1')).entries.find((entry) => entry.event === 'set-policy');
    expect(change?.subject).toBe('policy changed: autoFailover true -> false, leaseDurationMs 2800 -> 5000');
    expect(change?.body).toMatch(/Why: flaky network[\s\S]*Effect: primary node dies/);
  });
});
