// The scenario table of the design brief, with real parts: failures that must NOT end in a promotion,
// each with the notice a DBA expects. The primary stays the only writable node throughout; a failover
// halted for a person goes on once the person resumes it.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { runDrill } from '../../cli/local/drill.ts';
import { connectLocalStore } from '../../cli/local/local-cluster.ts';
import { postmasterPid } from '../../cli/local/postgres-server.ts';
import { stopProcess } from '../../cli/local/processes.ts';
import { withLocalCluster } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';
import { pauseProcess as pause, resumeProcess as resume } from '../../cli/local/processes.ts';
import { WritableSampler } from '../../cli/local/writable-sampler.ts';

describe('failures that are not failovers, with real PostgreSQL', () => {
  it('primary agent stopped (systemctl stop) while its database runs: no failover, a WARNING that the agent left', async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      // Act: the drill waits past the node timeout and the lease before it reports.
      const report = await runDrill({ dir: cluster.dir, fault: 'stop-primary-agent' });
      // Assess
      expect(report.failedOver).toBe(false);
      expect(report.termAfter).toBe(report.termBefore);
      expect(await cluster.writableNodes()).toEqual(['db1']);
      expect(report.writes.missing).toBe(0);
      expect(cluster.notices()).toEqual(
        expect.arrayContaining([expect.objectContaining({ event: 'primary-agent-left', severity: 'WARNING' })]),
      );
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
      // Prepare: every peer, the witness (no database credentials) included, sees the live primary answer.
      const store = connectLocalStore(cluster.state);
      const votes = await pollUntil(
        "every peer's check of the primary",
        async () => {
          const beats = (await store.readSnapshot(cluster.state.cluster)).heartbeats.filter((b) => b.nodeId !== 'db1');
          return beats.length === 3 && beats.every((b) => b.primaryCheck?.status === 'UP') ? beats : undefined;
        },
        30_000,
        200,
      );
      expect(votes.map((b) => b.nodeId).sort()).toEqual(['db2', 'db3', 'witness']);
      // Act: the standby's database stops.
      const report = await runDrill({ dir: cluster.dir, fault: 'stop-standby' });
      // Assess
      expect(report.failedOver).toBe(false);
      expect(report.target).toBe('db3');
      expect(cluster.notices()).toEqual(
        expect.arrayContaining([expect.objectContaining({ event: 'standby-db-down', severity: 'WARNING' })]),
      );

      // Act: the other standby's whole node goes (agent and database), and the witness's agent.
      const db2 = cluster.node('db2');
      await stopProcess(db2.agentPid!);
      await stopProcess(postmasterPid(db2.dataDir!)!);
      await stopProcess(cluster.node('witness').agentPid!);
      // Assess
      await pollUntil(
        'warnings for the standby node and the witness',
        () => {
          const events = cluster.notices().map((notice) => notice.event);
          return events.includes('standby-agent-down') && events.includes('witness-agent-down') ? events : undefined;
        },
        30_000,
        200,
      );
      expect(await cluster.writableNodes()).toEqual(['db1']);
      const record = await connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
      expect(record).toMatchObject({ term: 1, primaryNodeId: 'db1', phase: 'steady' });
    });
  });

  it('state store unreachable for everyone: no promotion; the primary, unable to prove nobody else was promoted, stops itself; SEVERE alert; one primary once the store is back', async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      const sampler = new WritableSampler(cluster.state.nodes, cluster.password);
      sampler.start();
      // Act: freeze the store (its requests hang, as in an outage).
      const storePid = cluster.state.storePid!;
      pause(storePid);
      try {
        // Assess: the evaluator says so; nobody is promoted; the primary stops itself before its lease
        // ends, since nothing a silent partition cannot fake tells it that no standby was promoted.
        await pollUntil(
          'a SEVERE store-unreachable notice',
          () =>
            cluster.notices().find((notice) => notice.event === 'store-unreachable' && notice.severity === 'SEVERE'),
          40_000,
          250,
        );
        await pollUntil(
          'the primary to stop itself',
          async () => ((await cluster.writableNodes()).length === 0 ? true : undefined),
          20_000,
          100,
        );
        expect(readFileSync(cluster.node('db1').agentLog, 'utf8')).toMatch(/lease not renewed: stopping the database/);
      } finally {
        resume(storePid);
      }
      // Once the store answers again, the cluster ends with exactly one primary.
      await pollUntil(
        'one writable primary again',
        async () => {
          const record = await connectLocalStore(cluster.state).getCluster(cluster.state.cluster);
          const writable = await cluster.writableNodes();
          return record?.phase === 'steady' && writable.length === 1 && writable[0] === record.primaryNodeId
            ? writable
            : undefined;
        },
        60_000,
        250,
      );
      await sampler.stop();
      expect(sampler.overlaps).toEqual([]);
      expect(sampler.samples).toBeGreaterThan(50);
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

  it('fencing hook exits non-zero: the failover is aborted (halted) and nobody is promoted; once fixed, resume fails over afresh', async () => {
    const flagDir = mkdtempSync(join(tmpdir(), 'pgfailover-fence-'));
    const fixed = join(flagDir, 'device-reachable');
    try {
      await withLocalCluster(
        {
          standbys: 2,
          witness: false,
          fenceHook: `test -e ${fixed} || { echo "cannot reach the fencing device" >&2; exit 3; }`,
        },
        async (cluster) => {
          const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-db', timeoutMs: 30_000 });
          const aborted = cluster.notices().find((notice) => notice.event === 'failover-aborted');
          expect(aborted).toMatchObject({ severity: 'SEVERE' });
          // The candidate is whichever standby had received the most WAL when the primary died.
          expect(aborted?.subject).toMatch(/the fencing hook failed on db[23]/);
          expect(await cluster.writableNodes()).toEqual([]);
          const store = connectLocalStore(cluster.state);
          const halted = await store.getCluster(cluster.state.cluster);
          expect(halted?.phase).toBe('halted');
          expect(report.steps.join('\n')).toMatch(/exited with 3: cannot reach the fencing device/);
          // Act: the device is reachable again; the DBA resumes.
          writeFileSync(fixed, '');
          const resumed = await runCli([
            'resume',
            '--reason',
            'fencing device back',
            '--endpoint',
            cluster.state.storeEndpoint,
            '--region',
            'local',
          ]);
          // Assess: a new term, the failure confirmed again, the fencing hook run again, a standby promoted.
          expect(resumed.code, resumed.stderr).toBe(0);
          expect(resumed.stdout).toMatch(/no database is writable: db1 recorded as the failed primary/);
          const record = await pollUntil(
            'a failover after the resume',
            async () => {
              const current = await store.getCluster(cluster.state.cluster);
              return current?.phase === 'steady' && current.primaryNodeId !== 'db1' ? current : undefined;
            },
            30_000,
            200,
          );
          expect(record.term).toBeGreaterThan((halted?.term ?? 0) + 1);
          expect(await cluster.writableNodes()).toEqual([record.primaryNodeId]);
        },
      );
    } finally {
      rmSync(flagDir, { recursive: true, force: true });
    }
  });
});
