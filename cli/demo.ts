// `npm run demo`: a newcomer's first look. Brings a real local cluster up, shows its status as the
// agents report it healthy, and tears everything down again, also on Ctrl-C or failure.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatClusterStatus, type ClusterStatusReport } from '../core/cluster-status.ts';
import { localDown, localStatus, localUp } from './local/local-cluster.ts';

export async function runDemo(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'pgfailover-demo-'));
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    write('interrupted: tearing the demo cluster down');
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    write(`== pgfailover demo: a primary, two streaming standbys and a witness, all real, in ${dir}`);
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
    write(report?.healthy ? '== the cluster is healthy: exit code 0 from cluster-status' : '== the cluster did not become healthy; see the problems above');
    return report?.healthy === true;
  } finally {
    write('== tearing down (agents, PostgreSQL servers, state store)');
    // A start-up that failed has already stopped what it started; only the directory is left.
    if (existsSync(join(dir, 'local.json'))) {
      const result = await localDown(dir, { purge: true });
      write(`   stopped ${result.stoppedPids.length} processes; removed ${dir}`);
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}
