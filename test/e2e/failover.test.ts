// The scenario table of the design brief, with real PostgreSQL, real agents, dynalite and the evaluator
// on its timer: failures that must end in a failover. Each asserts the invariants: one writable primary,
// the old one down and unable to return writable, the standbys following the new primary, no
// acknowledged write lost.

import { hasExited } from '../../agent/server-control.ts';
import { describe, expect, it } from 'vitest';
import { runDrill } from '../../cli/local/drill.ts';
import { postmasterPid, startServer } from '../../cli/local/postgres-server.ts';
import { runCli } from '../support/cli.ts';
import { faultTarget, heal } from '../../cli/local/lab-faults.ts';
import { clusterAddress, connectLocalStore, restartAgent } from '../../cli/local/local-cluster.ts';
import { inNetns } from '../../cli/local/lab-network.ts';
import { spawn } from 'node:child_process';
import { withLocalCluster, type ClusterContext } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * psql running `query` through the cluster address, from where clients are (the lab's client namespace). Its
 * outcome once it exited; stopped (by PID) if it has not.
 */
function sessionThroughAddress(cluster: ClusterContext, query: string) {
  const [host, port] = clusterAddress(cluster.state).split(':') as [string, string];
  const psql = ['psql', '-X', '-h', host, '-p', port, '-U', 'postgres', '-d', 'postgres', '-c', query];
  const [command, args] = cluster.state.lab
    ? inNetns(cluster.state.lab.appNetns, psql[0] as string, psql.slice(1))
    : [psql[0] as string, psql.slice(1)];
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, PGPASSWORD: cluster.password, PGCONNECT_TIMEOUT: '5' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exit: { code: number | null; stderr: string } | undefined;
  child.once('exit', (code) => (exit = { code, stderr }));
  return {
    ended: () => exit,
    stop: () => {
      if (exit === undefined) child.kill('SIGKILL');
    },
  };
}

async function assertFailedOverFrom(
  cluster: ClusterContext,
  oldPrimary: string,
  report: Awaited<ReturnType<typeof runDrill>>,
): Promise<string> {
  expect(report.failedOver, report.steps.join('\n')).toBe(true);
  const newPrimary = report.primaryAfter as string;
  expect(newPrimary).not.toBe(oldPrimary);
  expect(report.termAfter).toBe(report.termBefore + 1);
  // Exactly one writable primary, and it is the recorded one.
  expect(await cluster.writableNodes()).toEqual([newPrimary]);
  // Every other running standby follows it.
  const others = cluster.state.nodes
    .filter((node) => node.dataDir && node.name !== newPrimary && node.name !== oldPrimary)
    .map((node) => node.name);
  await pollUntil(
    'the standbys to stream from the new primary',
    async () => {
      const streaming = await cluster.streamingFrom(newPrimary);
      return others.every((name) => streaming.includes(name)) ? streaming : undefined;
    },
    20_000,
    200,
  );
  // Writes go through the address to the new primary; nothing acknowledged was lost.
  expect(report.timeline.firstWriteMs).not.toBeNull();
  expect(report.writes.missing).toBe(0);
  expect(cluster.notices().map((notice) => `${notice.severity} ${notice.event}`)).toEqual(
    expect.arrayContaining(['WARNING failover-started', 'INFO standby-promoted', 'WARNING failover-completed']),
  );
  return newPrimary;
}

describe('failovers with real PostgreSQL', () => {
  it('primary database down, agent alive: the most up-to-date standby is promoted, the address moves, the old primary is fenced', async () => {
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      // Act
      const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-db' });
      // Assess
      await assertFailedOverFrom(cluster, 'db1', report);
      expect(report.timeline.decidedMs).not.toBeNull();
      // Fenced: standby.signal is in the old primary's data directory, so it can only return as a standby.
      expect(existsSync(join(cluster.node('db1').dataDir!, 'standby.signal'))).toBe(true);
      // The history has every decision with its reason, through the real CLI.
      const history = await runCli([
        'history',
        '--json',
        '--endpoint',
        cluster.state.storeEndpoint,
        '--region',
        'local',
      ]);
      expect(history.code).toBe(0);
      const entries = JSON.parse(history.stdout) as { kind: string; event: string; subject: string; term: number }[];
      expect(entries.filter((entry) => entry.kind === 'decision').map((entry) => entry.event)).toEqual(
        expect.arrayContaining(['failover', 'candidate-promoted', 'failover-completed']),
      );
      // Which standby had received the most WAL when the primary died decides between db2 and db3.
      expect(entries.find((entry) => entry.event === 'failover')?.subject).toMatch(
        /database of primary db1 is DOWN.*promoting (db2|db3): \1 has the most WAL/,
      );
    });
  });

  it('primary node down (agent and database): failover after the node timeout and the lease; the old primary returns only as a standby', async () => {
    await withLocalCluster({ standbys: 2, witness: false, synchronous: true }, async (cluster) => {
      // Act
      const report = await runDrill({ dir: cluster.dir, fault: 'kill-primary-node' });
      // Assess
      const newPrimary = await assertFailedOverFrom(cluster, 'db1', report);

      // The old primary's node comes back: its network, its agent first (as systemd orders it), then PostgreSQL.
      if (cluster.state.lab) await heal(faultTarget(cluster.state), 'db1');
      restartAgent(cluster.dir, 'db1');
      await pollUntil(
        'the old primary to be fenced on disk',
        () => (existsSync(join(cluster.node('db1').dataDir!, 'standby.signal')) ? true : undefined),
        20_000,
        100,
      );
      await startServer(
        cluster.node('db1').dataDir!,
        join(cluster.dir, 'db1', 'postgres-restart.log'),
        cluster.node('db1').netns ?? undefined,
      );
      const rows = await cluster.sql<{ recovery: boolean }>('db1', 'SELECT pg_is_in_recovery() AS recovery');
      expect(rows[0]?.recovery).toBe(true);
      expect(await cluster.writableNodes()).toEqual([newPrimary]);
    });
  });

  it('primary isolated from the store and its peers: it stops itself before its lease ends; the majority promotes', async () => {
    // Its clients still reach it until it stops: only a synchronous standby makes their writes safe.
    await withLocalCluster({ standbys: 2, witness: true, synchronous: true }, async (cluster) => {
      // Act
      const report = await runDrill({ dir: cluster.dir, fault: 'isolate-primary' });
      // Assess
      await assertFailedOverFrom(cluster, 'db1', report);
      // The isolated primary kept its database running until it fenced itself: now it is stopped.
      // A postmaster killed by the fence (or the watchdog) stays a zombie until its parent reaps it: exited.
      const oldServer = postmasterPid(cluster.node('db1').dataDir!);
      expect(oldServer === undefined || hasExited(oldServer)).toBe(true);
      expect(existsSync(join(cluster.node('db1').dataDir!, 'standby.signal'))).toBe(true);
    });
  });
});

describe('failovers after earlier role changes', () => {
  it("the primary's database dies while its agent hangs, after three switchovers: the lease runs out and a standby is promoted", async () => {
    // A standby whose WAL receiver has stopped (its primary just died) can say only the timeline of its last
    // restartpoint, which after a few role changes is older than the one it streams on: the evaluator must not
    // take that for another history and veto every standby.
    await withLocalCluster({ standbys: 2, witness: true }, async (cluster) => {
      // Prepare: three switchovers (timeline 4), each waited out until both standbys follow the new primary and
      // their agents have said so: a heartbeat written just before a standby reconnected still names the old
      // timeline, and the next switchover rightly refuses a target on another timeline.
      const rounds: [string, string[]][] = [
        ['db2', ['db1', 'db3']],
        ['db3', ['db1', 'db2']],
        ['db1', ['db2', 'db3']],
      ];
      for (const [to, others] of rounds) {
        const switched = await runCli(['local', 'switchover', '--dir', cluster.dir, '--to', to]);
        expect(switched.code, `${switched.stdout}\n${switched.stderr}`).toBe(0);
        await pollUntil(
          `the standbys to follow ${to}`,
          async () => {
            const streaming = await cluster.streamingFrom(to).catch((): string[] => []);
            if (!others.every((name) => streaming.includes(name))) return undefined;
            const { heartbeats } = await connectLocalStore(cluster.state).readSnapshot(cluster.state.cluster);
            const timelineOf = (name: string) => heartbeats.find((beat) => beat.nodeId === name)?.timeline;
            const primaryTimeline = timelineOf(to);
            return primaryTimeline && others.every((name) => timelineOf(name) === primaryTimeline) ? true : undefined;
          },
          30_000,
          200,
        );
      }
      const agent = cluster.node('db1').agentPid!;
      const server = postmasterPid(cluster.node('db1').dataDir!)!;
      const store = connectLocalStore(cluster.state);
      const before = await store.getCluster(cluster.state.cluster);
      // Act: db1's agent hangs, then its server dies; nothing but the lease can tell the cluster.
      process.kill(agent, 'SIGSTOP');
      try {
        process.kill(server, 'SIGKILL');
        // Assess: a new term with another primary, writable alone.
        const after = await pollUntil(
          'a failover away from db1',
          async () => {
            const record = await store.getCluster(cluster.state.cluster);
            return record && record.term > (before?.term ?? 0) && record.primaryNodeId !== 'db1' ? record : undefined;
          },
          20_000,
          200,
        );
        await pollUntil(
          'the new primary to be writable',
          async () => ((await cluster.writableNodes()).includes(after.primaryNodeId!) ? true : undefined),
          20_000,
          200,
        );
        expect(await cluster.writableNodes()).toEqual([after.primaryNodeId]);
        expect(cluster.notices().map((notice) => notice.event)).not.toContain('no-candidate');
      } finally {
        process.kill(agent, 'SIGCONT');
      }
    });
  });
});

describe('planned switchover with real PostgreSQL', () => {
  it('the primary stops cleanly, the target catches up and is promoted, the address moves, the old primary follows; no write lost; an open session is ended with an error, not left hanging', async () => {
    await withLocalCluster({ standbys: 2, witness: false }, async (cluster) => {
      // Prepare: a client session waiting on a long query through the cluster address, from the clients' side.
      const session = sessionThroughAddress(cluster, 'SELECT pg_sleep(120)');
      try {
        await pollUntil(
          'the session running on db1',
          async () =>
            (
              await cluster.sql<{ n: number }>(
                'db1',
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%'",
              )
            )[0]?.n
              ? true
              : undefined,
          10_000,
          100,
        );
        // Act
        const report = await runDrill({ dir: cluster.dir, fault: 'switchover' });
        // Assess: the fast shutdown's error reached the client while the address was still up (taken off first,
        // the address left the session hanging: its server's goodbye could no longer be sent).
        const ended = await pollUntil('the session to end', () => session.ended(), 20_000, 100);
        expect(ended.stderr).toMatch(/terminating connection due to administrator command/);
        expect(report.failedOver, report.steps.join('\n')).toBe(true);
        expect(report.primaryAfter).toBe('db2');
        expect(await cluster.writableNodes()).toEqual(['db2']);
        // The old primary was re-attached as a standby of the new one, next to db3.
        await pollUntil(
          'db1 and db3 to stream from db2',
          async () => {
            const streaming = await cluster.streamingFrom('db2');
            return streaming.includes('db1') && streaming.includes('db3') ? streaming : undefined;
          },
          30_000,
          200,
        );
        expect(report.writes.missing).toBe(0);
        expect(report.timeline.firstWriteMs).not.toBeNull();
        expect(cluster.notices().map((notice) => `${notice.severity} ${notice.event}`)).toEqual(
          expect.arrayContaining(['INFO switchover-started', 'INFO switchover-completed']),
        );
      } finally {
        session.stop();
      }
    });
  });

  it('refuses a switchover to a node that cannot take over, and changes nothing', async () => {
    await withLocalCluster({ standbys: 1, witness: true }, async (cluster) => {
      for (const [to, message] of [
        ['witness', /witness is a witness and has no database to promote/],
        ['db1', /db1 is already the primary/],
        ['db9', /db9 is not in the allowed node list/],
      ] as const) {
        const result = await runCli(['local', 'switchover', '--dir', cluster.dir, '--to', to]);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(message);
      }
      expect(await cluster.writableNodes()).toEqual(['db1']);
    });
  });
});
