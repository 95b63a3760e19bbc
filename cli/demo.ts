// `npm run demo`: a newcomer's first look. Brings a real local cluster up, shows it healthy, kills the
// primary node while a writer commits through the cluster address, shows the failover step by step and
// the cluster after it, and tears everything down again, also on Ctrl-C or failure.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatClusterStatus, type ClusterStatusReport } from '../core/cluster-status.ts';
import { runDrill } from './local/drill.ts';
import { localHeal } from './local/lab-faults.ts';
import { formatDrillReport } from './local/drill-report.ts';
import { connectLocalStore, localDown, localStatus, localUp, readLocalState } from './local/local-cluster.ts';
import { describeTiming } from '../core/policy-change.ts';

export async function runDemo(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'pgfailover-demo-'));
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    write('interrupted: tearing the demo cluster down');
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    write(`== pgfailover demo: a primary, two streaming standbys, a witness and the evaluator, all real, in ${dir}`);
    await localUp({ dir, standbys: 2, witness: true, onProgress: (line) => write(`   ${line}`) });
    write('== waiting for every agent to report its database UP and the standbys to catch up');
    let report: ClusterStatusReport | undefined;
    let lastSummary = '';
    const deadline = Date.now() + 60_000;
    while (!interrupted && Date.now() < deadline) {
      report = await localStatus(dir);
      const summary = report.nodes.map((node) => `${node.nodeId}=${node.agentType}/${node.dbStatus}`).join('  ');
      if (summary !== lastSummary) write(`   ${summary}${report.healthy ? '  -> healthy' : ''}`);
      lastSummary = summary;
      if (report.healthy) break;
      await sleep(500);
    }
    if (report) {
      write('');
      write(formatClusterStatus(report));
      write('');
    }
    if (!report?.healthy || interrupted) {
      write('== the cluster did not become healthy; see the problems above');
      return false;
    }
    write(
      '== the cluster is healthy. Now the primary node dies (agent and PostgreSQL killed) while a writer commits through the cluster address:',
    );
    const drill = await runDrill({ dir, fault: 'kill-primary-node', onStep: (line) => write(`   ${line}`) });
    write(formatDrillReport(drill));
    write('');
    write('== what the durations above measure:');
    write('   - "detected" and "decided": from the kill until the evaluator confirmed the failure and decided. A dead');
    write("     node says nothing, so this waits out the node's silence and its lease:");
    const policy = report.nodes.length
      ? (await connectLocalStore(readLocalState(dir)).getCluster(report.cluster))?.policy
      : undefined;
    if (policy) for (const line of describeTiming(policy)) write(`       ${line}`);
    write('   - "failover completed ... after it was decided": promotion, address move and standbys following.');
    write('   - "writes unavailable": what a client saw, the longest gap between two acknowledged writes.');
    write('');
    write(
      '== cluster-status after the failover (the old primary is down and fenced; it can only come back as a standby):',
    );
    write('');
    write(formatClusterStatus(await localStatus(dir)));
    write('');
    write('== day two: the old primary host comes back; pgfailover rejoin makes it a standby of the new primary');
    write('   (pg_rewind from the new primary; a fresh base backup if its history cannot be rewound):');
    for (const line of await localHeal(dir)) write(`   ${line}`);
    let after: ClusterStatusReport | undefined;
    const healedBy = Date.now() + 60_000;
    while (!interrupted && Date.now() < healedBy) {
      after = await localStatus(dir);
      if (after.healthy) break;
      await sleep(500);
    }
    write('');
    if (after) write(formatClusterStatus(after));
    write('');
    return drill.failedOver && drill.writes.missing === 0 && after?.healthy === true;
  } finally {
    write('== tearing down (agents, PostgreSQL servers, state store)');
    // A start-up that failed has already stopped what it started; only the directory is left.
    if (existsSync(join(dir, 'local.json'))) {
      const result = await localDown(dir, { purge: true });
      write(
        `   stopped ${result.stoppedPids.length} processes${result.removedNamespaces.length ? `, removed ${result.removedNamespaces.length} network namespaces` : ''}; removed ${dir}`,
      );
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}
