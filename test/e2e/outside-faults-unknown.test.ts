// Faults found from outside, one step beyond the silent ones (1 of 2): a database its agent cannot check, and
// an agent restarted mid-partition. On the network lab with silent faults only; test/support/outside-faults.ts
// has the checks every case asserts.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmasterPid } from '../../agent/server-control.ts';
import { cut, faultTarget, heal, killAndRestartAgent } from '../../cli/local/lab-faults.ts';
import { isAlive } from '../../cli/local/processes.ts';
import { withLocalCluster } from '../support/local-cluster.ts';
import {
  assertNoAcknowledgedRowLost,
  events,
  onePrimaryAgain,
  record,
  stormOnDb1,
  underLoad,
} from '../support/outside-faults.ts';
import { pollUntil } from '../support/poll.ts';
import { updateClusterRecord } from '../../core/cluster-update.ts';
import { connectLocalStore } from '../../cli/local/local-cluster.ts';

describe('a database its agent cannot check', () => {
  it('fencing agent: a full primary (its checks refused, UNKNOWN) cut from the store and its peers stops itself before a standby is promoted; no acknowledged row lost', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, fencing: 'agent' }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: true }, async (writers, sampler) => {
        const storm = await stormOnDb1(cluster);
        try {
          // Act
          const cutAt = Date.now();
          await cut(lab, 'db1', 'store');
          await cut(lab, 'db1', 'peers');
          // Assess: a standby took over, only after db1 stopped (the sampler), and db1 said why it stopped.
          const primary = await onePrimaryAgain(cluster, cutAt, 'db1');
          expect(sampler.overlaps).toEqual([]);
          expect(readFileSync(cluster.node('db1').agentLog, 'utf8')).toMatch(
            /lease not renewed: stopping the database .*has -?\d+ ms left/,
          );
          for (const writer of writers) await writer.stop();
          await assertNoAcknowledgedRowLost(cluster, primary, writers);
        } finally {
          await storm.stop();
          await heal(lab);
        }
      });
    });
  });

  it('fencing watchdog: a full primary with nothing else wrong keeps renewing its lease, is not killed, and nobody is promoted', async () => {
    await withLocalCluster({ standbys: 2, witness: true }, async (cluster) => {
      await underLoad(cluster, { direct: false }, async () => {
        const storm = await stormOnDb1(cluster);
        try {
          // Act: three lease windows with every new login of db1's agent refused
          const before = await record(cluster);
          const until = Date.now() + 9_000;
          await pollUntil(
            'three lease windows of a full primary',
            async () => {
              const now = await record(cluster);
              expect(now?.term).toBe(1);
              return Date.now() >= until ? now : undefined;
            },
            20_000,
            250,
          );
          // Assess: renewed all along, server alive, the watchdog never fired
          expect((await record(cluster))?.leaseRenewals ?? 0).toBeGreaterThan((before?.leaseRenewals ?? 0) + 10);
          const pid = postmasterPid(cluster.node('db1').dataDir!);
          expect(pid !== undefined && isAlive(pid)).toBe(true);
          expect(await cluster.writableNodes()).toEqual(['db1']);
        } finally {
          await storm.stop();
        }
      });
      expect(await events(cluster)).not.toContain('failover');
    });
  });
});

/**
 * The agents of this case run from the release bundle, as on a database host: with tsx compiling the sources
 * at start, a restart under CI's load took longer than the lease had left, and with agent fencing nothing
 * stops a server while its agent is not running (the gap that watchdog fencing closes; docs/failover.md).
 */
const AGENT_BUNDLE = fileURLToPath(new URL('../../dist/bin/pgfailover-agent.mjs', import.meta.url));

describe('an agent restarted mid-partition', () => {
  beforeAll(() => {
    if (!existsSync(AGENT_BUNDLE)) throw new Error(`${AGENT_BUNDLE} is missing: run npm run build first`);
    process.env.PGFAILOVER_LOCAL_AGENT = AGENT_BUNDLE;
  });
  afterAll(() => {
    delete process.env.PGFAILOVER_LOCAL_AGENT;
  });

  it('fencing agent: the primary cut off, its agent killed and restarted 0.5 s later, fences at the end of the lease its predecessor recorded', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true, fencing: 'agent' }, async (cluster) => {
      const lab = faultTarget(cluster.state);
      await underLoad(cluster, { direct: true }, async (writers) => {
        // A 6 s lease, renewed under by db1 before the fault: a restart 0.5 s after the kill then starts well
        // before the fence point even on CI's loaded cores (the case is what a restarted agent does with the
        // lease it finds, not how fast a loaded machine starts a process).
        const store = connectLocalStore(cluster.state);
        await updateClusterRecord(store, cluster.state.cluster, Date.now, (snapshot) => ({
          policy: { ...snapshot.cluster.policy, leaseDurationMs: 6000 },
        }));
        await pollUntil(
          'db1 renewing under the 6 s lease',
          async () => ((await record(cluster))?.leaseGrantedMs === 6000 ? true : undefined),
          10_000,
          50,
        );
        // Act
        const cutAt = Date.now();
        await cut(lab, 'db1', 'store');
        await cut(lab, 'db1', 'peers');
        const restartedPid = await killAndRestartAgent(cluster.dir, cluster.node('db1'), 500);
        const agentLog = cluster.node('db1').agentLog;
        const tail = () =>
          `restarted agent ${restartedPid} ${isAlive(restartedPid) ? 'alive' : 'DEAD'}; its log ends:\n${readFileSync(agentLog, 'utf8').split('\n').slice(-25).join('\n')}`;
        try {
          // Assess
          const primary = await onePrimaryAgain(cluster, cutAt, 'db1').catch((error: unknown) => {
            throw new Error(`${String(error)}\n${tail()}`);
          });
          const log = readFileSync(cluster.node('db1').agentLog, 'utf8');
          expect(log).toMatch(/a lease is recorded for this node's server/);
          expect(log).toMatch(/lease not renewed: stopping the database/);
          for (const writer of writers) await writer.stop();
          await assertNoAcknowledgedRowLost(cluster, primary, writers);
        } finally {
          await heal(lab);
        }
      });
    });
  });
});
