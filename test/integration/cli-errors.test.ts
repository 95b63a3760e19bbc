// The CLI's exit codes and messages as a monitoring script and a person see them: 0 ok, 1 cluster-status
// found problems, 2 bad input (commander's own errors included), 3 anything else; store failures told as
// what to do, never as the SDK's raw words; an unknown cluster is an error everywhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowNode } from '../../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { heartbeat, primaryHeartbeat } from '../support/fixtures.ts';
import { runCli } from '../support/cli.ts';
import { startDynalite, type TestStore } from '../support/dynalite.ts';
import { freePort } from '../../cli/local/processes.ts';

let dynamo: TestStore;
beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.store.initCluster({ cluster: 'prod', policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' }, Date.now());
});
afterAll(async () => {
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
  ])('%s', async (_name, args, env, code, message) => {
    // Act
    const result = await runCli(await args(), env);
    // Assess
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/Region is missing|Could not load credentials|ResourceNotFoundException/);
  });

  it('--help and --version exit 0', async () => {
    expect((await runCli(['--version'])).code).toBe(0);
    expect((await runCli(['local', '--help'])).code).toBe(0);
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
    await dynamo.store.initCluster(
      { cluster: 'live', policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' },
      Date.now(),
    );
    await dynamo.store.updateMembership(
      'live',
      (m) =>
        ['db1', 'db2', 'db3'].reduce(
          (current, nodeId, index) => allowNode(current, { nodeId, address: `10.0.1.${10 + index}` }),
          m,
        ),
      Date.now(),
    );
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
    const created = await dynamo.store.initCluster(
      { cluster: 'stuck', policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' },
      Date.now(),
    );
    await dynamo.store.updateMembership(
      'stuck',
      (m) =>
        ['db1', 'db2', 'db3'].reduce(
          (current, nodeId, index) => allowNode(current, { nodeId, address: `10.0.2.${10 + index}` }),
          m,
        ),
      Date.now(),
    );
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
      /cluster stuck resumed: no database is writable: db1 recorded as the failed primary of term 3/,
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
    expect(again.stderr).toMatch(/resume refused: cluster stuck is not halted \(phase steady\)/);
  });
});
