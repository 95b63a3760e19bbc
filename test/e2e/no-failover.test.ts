// The scenario table of the design brief, with real parts: failures that must NOT end in a promotion,
// each with the notice a DBA expects. The primary stays the only writable node throughout.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runDrill } from '../../cli/local/drill.ts';
import { connectLocalStore } from '../../cli/local/local-cluster.ts';
import { postmasterPid } from '../../cli/local/postgres-server.ts';
import { stopProcess } from '../../cli/local/processes.ts';
import { withLocalCluster } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';

describe('failures that are not failovers, with real PostgreSQL', () => {
  it('primary agent exits while its database runs: no failover, a WARNING that the agent left', async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      // Act: the drill waits past the node timeout and the lease before it reports.
      const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-agent' });
      // Assess
      expect(report.failedOver).toBe(false);
      expect(report.termAfter).toBe(report.termBefore);
      expect(await cluster.writableNodes()).toEqual(['db1']);
      expect(report.writes.missing).toBe(0);
      expect(cluster.notices()).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'primary-agent-left', severity: 'WARNING' })]));
    });
  });

  it('a stall of the primary node shorter than the timeouts causes no promotion', async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      const report = await runDrill({ dir: cluster.dir, fault: 'stall-primary', stallMs: 1500 });
      expect(report.failedOver).toBe(false);
      expect(await cluster.writableNodes()).toEqual(['db1']);
      expect(cluster.notices().map((notice) => notice.event)).not.toContain('failover-started');
    });
  });

  it('standby database down, then a standby node down, then the witness down: warnings only', async () => {
    await withLocalCluster({ standbys: 2, witness: true }, async (cluster) => {
      // Act: the standby's database stops.
      const report = await runDrill({ dir: cluster.dir, fault: 'stop-standby' });
      // Assess
      expect(report.failedOver).toBe(false);
      expect(report.target).toBe('db3');
      expect(cluster.notices()).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'standby-db-down', severity: 'WARNING' })]));

      // Act: the other standby's whole node goes (agent and database), and the witness's agent.
      const db2 = cluster.node('db2');
      await stopProcess(db2.agentPid!);
      await stopProcess(postmasterPid(db2.dataDir!)!);
      await stopProcess(cluster.node('witness').agentPid!);
      // Assess
      await pollUntil('warnings for the standby node and the witness', () => {
        const events = cluster.notices().map((notice) => notice.event);
        return events.includes('standby-agent-down') && events.includes('witness-agent-down') ? events : undefined;
      }, 30_000, 200);
      expect(await cluster.writableNodes()).toEqual(['db1']);
      const record = await connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
      expect(record).toMatchObject({ term: 1, primaryNodeId: 'db1', phase: 'steady' });
    });
  });

  it('state store unreachable for everyone: no promotion, the primary keeps serving while its standbys stream, SEVERE alert', async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      // Act: freeze the store (its requests hang, as in an outage).
      const storePid = cluster.state.storePid!;
      process.kill(storePid, 'SIGSTOP');
      try {
        // Assess: the evaluator says so; well past the lease, the primary still takes writes.
        await pollUntil('a SEVERE store-unreachable notice', () => cluster.notices().find((notice) => notice.event === 'store-unreachable' && notice.severity === 'SEVERE'), 40_000, 250);
        const policyWindowMs = 3000 + 500 + 1000;
        const since = Date.now();
        await pollUntil('the lease window to pass', () => (Date.now() - since > policyWindowMs ? true : undefined), policyWindowMs + 1000, 100);
        await cluster.sql(cluster.node('db1').port!, 'CREATE TABLE IF NOT EXISTS outage_writes (id int); INSERT INTO outage_writes VALUES (1)');
        expect(await cluster.writableNodes()).toEqual(['db1']);
        expect(await cluster.streamingFrom(cluster.node('db1').port!)).toEqual(['db2', 'db3']);
        // It kept serving on purpose: its lease lapsed, but its standbys stream from it.
        await pollUntil('the primary agent to say why it keeps serving', () => (readFileSync(cluster.node('db1').agentLog, 'utf8').includes('2 of 2 standbys stream from this primary: it keeps serving') ? true : undefined), 10_000, 200);
      } finally {
        process.kill(storePid, 'SIGCONT');
      }
    });
  });

  it('automatic failover off: the failure is detected and a manual failover is asked for, nothing is promoted', async () => {
    await withLocalCluster({ standbys: 2, witness: false, autoFailover: false }, async (cluster) => {
      const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-db', timeoutMs: 15_000 });
      expect(report.failedOver).toBe(false);
      const notice = cluster.notices().find((candidate) => candidate.event === 'manual-failover-required');
      expect(notice).toMatchObject({ severity: 'SEVERE' });
      expect(notice?.subject).toMatch(/manual failover required/);
      expect(await cluster.writableNodes()).toEqual([]);
    });
  });

  it('fencing hook exits non-zero: the failover is aborted with a SEVERE notice and nobody is promoted', async () => {
    await withLocalCluster({ standbys: 2, witness: false, fenceHook: 'echo "cannot reach the fencing device" >&2; exit 3' }, async (cluster) => {
      const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-db', timeoutMs: 30_000 });
      const aborted = cluster.notices().find((notice) => notice.event === 'failover-aborted');
      expect(aborted).toMatchObject({ severity: 'SEVERE' });
      expect(aborted?.subject).toMatch(/the fencing hook failed on db2/);
      expect(await cluster.writableNodes()).toEqual([]);
      const record = await connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
      expect(record?.phase).toBe('halted');
      expect(report.steps.join('\n')).toMatch(/exited with 3: cannot reach the fencing device/);
    });
  });
});
