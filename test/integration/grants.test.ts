// What each principal's code sends to the state table, checked against that principal's policies in the
// synthesised stack with an offline IAM evaluator. The requests are recorded from the real evaluator, the
// real switchover handler and the agent's and operator's store calls against dynalite; dynalite itself checks
// no permissions, so without this a missing grant shows only on AWS.

import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import type { AddressTarget } from '../../core/ports.ts';
import type { HeartbeatRecord } from '../../core/records.ts';
import { Evaluator } from '../../lambdas/evaluator/evaluator.ts';
import { createSwitchoverHandler } from '../../lambdas/switchover/handler.ts';
import { historyEntry } from '../../core/history.ts';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';
import { heartbeat, primaryHeartbeat } from '../support/fixtures.ts';
import { deniedRequests, synthesisedPrincipals, type Principal } from '../support/iam-grants.ts';
import { recordingStore, type StoreRequest } from '../support/store-requests.ts';
import { runCli } from '../support/cli.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TABLE = 'grants-test';
let dynamo: TestStore;
let principals: Record<string, Principal>;
const logger = new Logger({ serviceName: 'grants-test', logLevel: 'ERROR' });

beforeAll(async () => {
  dynamo = await startDynalite(TABLE);
  principals = synthesisedPrincipals({ addressModes: ['eip'], ec2StopFencing: true });
});
afterAll(async () => {
  await dynamo?.close();
});

function principal(name: string): Principal {
  const found = principals[name];
  if (!found) throw new Error(`no principal ${name} in the template: ${Object.keys(principals).join(', ')}`);
  return found;
}

/** Cluster `name` (db1 primary, its database DOWN and confirmed by both standbys) with an Elastic IP on db1. */
async function failedPrimary(name: string): Promise<void> {
  const now = Date.now();
  await seedCluster(dynamo.store, name, '10.0.0.', { nowMs: now });
  await dynamo.store.releaseLease(name, 'db1', 1);
  const record = (await dynamo.store.getCluster(name))!;
  await dynamo.store.writeCluster(
    { ...record, version: record.version + 1, address: { mode: 'eip', value: '203.0.113.7', holderNodeId: 'db1' } },
    { version: record.version, leaseRenewals: record.leaseRenewals },
  );
  const down = { primaryNodeId: 'db1', status: 'DOWN' as const, reason: 'refused' };
  const beats: HeartbeatRecord[] = [
    heartbeat('db1', { cluster: name, agentType: 'idle', dbStatus: 'DOWN', dbInfo: 'down', sentAtMs: now }),
    heartbeat('db2', { cluster: name, sentAtMs: now, primaryCheck: down }),
    heartbeat('db3', { cluster: name, sentAtMs: now, primaryCheck: down }),
  ];
  for (const beat of beats) await dynamo.store.putHeartbeat(beat);
}

describe('every request the code sends is allowed by its principal, and nothing more', () => {
  it('the evaluator: a failover with its address move recorded, as the real evaluation loop runs it', async () => {
    // Prepare
    await failedPrimary('g1');
    const { store, requests } = recordingStore(dynamo.endpoint, TABLE);
    const moves: AddressTarget[] = [];
    const evaluator = new Evaluator({
      store,
      moverFor: () => ({ moveTo: async (target: AddressTarget) => void moves.push(target) }),
      notifier: { notify: async () => undefined },
      clock: systemClock,
      logger,
      actor: 'evaluator:grants',
    });
    // Act: the loop as the Lambda runs it (claim, list, glance, read, decide, write, move, record).
    await evaluator.runUntil(systemClock.monotonicMs() + 1500, 100);
    // Assess: it did what needs the grants, and every request was allowed.
    expect(moves.map((move) => move.nodeId)).toEqual(['db2']);
    expect((await dynamo.store.getCluster('g1'))?.address.holderNodeId).toBe('db2');
    expect(new Set(requests.map((request) => request.action))).toContain('dynamodb:UpdateItem');
    expect(await deniedRequests(principal('evaluator'), requests)).toEqual([]);
  });

  it('the switchover function: a console switchover, recorded', async () => {
    // Prepare
    const now = Date.now();
    await seedCluster(dynamo.store, 'g2', '10.0.0.', { nowMs: now });
    await dynamo.store.putHeartbeat(
      primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: 'g2', sentAtMs: now }),
    );
    for (const id of ['db2', 'db3']) await dynamo.store.putHeartbeat(heartbeat(id, { cluster: 'g2', sentAtMs: now }));
    const { store, requests } = recordingStore(dynamo.endpoint, TABLE);
    // Act
    const outcome = await createSwitchoverHandler({ store, clock: systemClock })(
      { cluster: 'g2', to: 'db3', requestedBy: 'grants' },
      { awsRequestId: 'grants-1' },
    );
    // Assess
    expect(outcome.accepted).toBe(true);
    expect(await deniedRequests(principal('switchover'), requests)).toEqual([]);
  });

  it("an agent: every store call of its own cluster's, and none of another cluster's", async () => {
    // Prepare: prod is a cluster of the stack, with db1 its primary.
    const now = Date.now();
    await seedCluster(dynamo.store, 'prod', '10.0.0.', { nowMs: now });
    const { store, requests } = recordingStore(dynamo.endpoint, TABLE);
    // Act: what agent/agent.ts and `pgfailover rejoin` on a host send.
    await store.getMembership('prod');
    await store.getCluster('prod');
    await store.putHeartbeat(primaryHeartbeat('db1', '0/5000000', ['db2'], { cluster: 'prod', sentAtMs: now }));
    await store.recordRejected('prod', 'db9', '10.0.0.99', 'not allowed', now);
    await store.deleteRejected('prod', 'db9');
    await store.renewLease('prod', 'db1', 1, 2800);
    await store.releaseLease('prod', 'db1', 1);
    await store.appendHistory(
      historyEntry(
        {
          cluster: 'prod',
          term: 1,
          kind: 'notice',
          event: 'rejoined',
          severity: 'INFO',
          subject: 'grants',
          body: '',
          nodeId: 'db2',
          actor: 'db2',
        },
        now,
      ),
    );
    await store.readSnapshot('prod');
    const own = [...requests];
    requests.length = 0;
    await store.getCluster('reporting');
    await store.readSnapshot('reporting').catch(() => undefined);
    // Assess: a role tagged for prod may do all of it in prod, nothing in reporting; an untagged role nothing.
    const prodRole = { ...principal('agent'), tags: { 'pgfailover:cluster': 'prod' } };
    expect(await deniedRequests(prodRole, own)).toEqual([]);
    const foreign = await deniedRequests(prodRole, requests);
    expect(foreign.map((denied) => denied.request.action).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(await deniedRequests(principal('agent'), own)).toHaveLength(new Set(own.map((r) => JSON.stringify(r))).size);
  });

  it('an operator: cluster-status, history and the list of clusters, read-only', async () => {
    // Prepare
    await seedCluster(dynamo.store, 'g4', '10.0.0.', { nowMs: Date.now() });
    const { store, requests } = recordingStore(dynamo.endpoint, TABLE);
    // Act
    await store.listClusters();
    await store.readSnapshot('g4');
    await store.readHistory('g4');
    const reads = [...requests];
    requests.length = 0;
    await store.releaseLease('g4', 'db1', 1);
    // Assess
    expect(await deniedRequests(principal('operator'), reads)).toEqual([]);
    expect((await deniedRequests(principal('operator'), requests)).map((denied) => denied.request.action)).toEqual([
      'dynamodb:UpdateItem',
    ]);
  });

  it('an administrator: the CLI, as a process, its requests logged by PGFAILOVER_REQUEST_LOG', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'pgfailover-grants-'));
    const log = join(dir, 'requests.jsonl');
    const at = ['--endpoint', dynamo.endpoint, '--region', 'local', '--table', TABLE];
    const cli = (args: string[]) => runCli([...args, ...at], { PGFAILOVER_REQUEST_LOG: log });
    try {
      // Act: a day of administration, including commands that are refused (they still read).
      const results = [
        await cli(['init', '--cluster', 'g5']),
        await cli(['allow-node', 'db1', '--address', '10.0.5.1', '--cluster', 'g5']),
        await cli(['allow-node', 'db2', '--address', '10.0.5.2', '--cluster', 'g5']),
        await cli(['set-priority', 'db2', '1', '--cluster', 'g5']),
        await cli(['pause', '--cluster', 'g5', '--reason', 'upgrade']),
        await cli(['resume', '--cluster', 'g5']),
        await cli(['cluster-status', '--cluster', 'g5']),
        await cli(['history', '--cluster', 'g5']),
        await cli(['switchover', '--cluster', 'g5', '--to', 'db2', '--no-wait']),
        await cli(['promote', '--cluster', 'g5', '--no-wait']),
        await cli(['remove-node', 'db2', '--cluster', 'g5']),
      ];
      const requests = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as StoreRequest);
      // Assess: the commands ran (some refused, as a cluster without a primary must), and everything they sent
      // is allowed to an administrator; an operator may not write.
      expect(results.map((result) => result.code).slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(new Set(requests.map((request) => request.action))).toContain('dynamodb:PutItem');
      expect(await deniedRequests(principal('administrator'), requests)).toEqual([]);
      const operatorDenied = await deniedRequests(principal('operator'), requests);
      expect(new Set(operatorDenied.map((denied) => denied.request.action))).toContain('dynamodb:PutItem');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
