// The local mode's commands (pgfailover local ...): a whole cluster on this machine with real PostgreSQL.
// Only in the repository's pgfailover (cli/main.ts); the release's program has no local mode.

import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import { clusterNameSchema, nodeIdSchema } from '../../core/records.ts';
import { out, say, validated, wholeNumber } from '../cli-support.ts';
import { runDemo } from '../demo.ts';
import { printStatus, switchoverCommand } from '../program.ts';
import { FAULTS, runDrill, type Fault } from './drill.ts';
import { formatDrillReport } from './drill-report.ts';
import { localHeal } from './lab-faults.ts';
import {
  clusterAddress,
  connectLocalStore,
  localClean,
  localDown,
  localStatus,
  localUp,
  readLocalState,
} from './local-cluster.ts';
import { parseDuration, runNemesis } from './nemesis.ts';
import { verdictExit } from '../../core/exit-codes.ts';

interface DrillCommandOptions {
  dir: string;
  fault: Fault;
  stallMs: number;
  timeoutMs: number;
  atHandover?: boolean;
  json?: boolean;
}

export function addLocalCommands(program: Command): void {
  const local = program
    .command('local')
    .description('run a whole cluster on this machine with real PostgreSQL (the embedded mode)');

  local
    .command('up')
    .description(
      'start a primary, N streaming standbys, the state store and an agent per node; returns leaving them running',
    )
    .requiredOption('--dir <dir>', 'directory for data, logs and state (new or empty)')
    .option('--standbys <n>', 'number of standbys', wholeNumber('--standbys', 1), 2)
    .option('--witness', 'also run a witness agent (a voting member without a database)')
    .option('--cluster <name>', 'cluster name', validated(clusterNameSchema, 'cluster name'), 'local')
    .option('--no-auto-failover', 'detect and notify only; never promote')
    .option('--auto-rejoin', 'agents bring a stopped old primary back as a standby themselves (pg_rewind)')
    .option('--sync', 'synchronous replication (ANY 1 of the standbys): no acknowledged commit is lost in a failover')
    .option('--fence-hook <command>', 'fencing hook for every database agent; a non-zero exit aborts a failover')
    .option('--webhook <url>', 'also POST every notice to this URL')
    .option(
      '--evaluator-invocations <ms>',
      'run the evaluator as the schedule runs the Lambda: a new invocation every <ms>, handing over (default: one for good)',
      wholeNumber('--evaluator-invocations', 5000),
    )
    .addOption(
      new Option(
        '--network <kind>',
        'lab: a network namespace per node (root on Linux; the default there); loopback: TCP forwarders on 127.0.0.1',
      ).choices(['lab', 'loopback']),
    )
    .addOption(
      new Option(
        '--fencing <how>',
        "watchdog (a watchdog process per node), ec2-stop (the evaluator kills the node's namespace, as stopping its instance would; lab only) or agent",
      )
        .choices(['agent', 'watchdog', 'ec2-stop'])
        .default('watchdog'),
    )
    .option(
      '--peer-leases',
      'peer leases on: a primary cut off from the store keeps its database while a majority of members vouch for it (lab only)',
    )
    .option('--json', 'print one JSON object describing what was started')
    .action(
      async (options: {
        peerLeases?: boolean;
        dir: string;
        standbys: number;
        witness?: boolean;
        cluster: string;
        autoFailover: boolean;
        autoRejoin?: boolean;
        sync?: boolean;
        fenceHook?: string;
        webhook?: string;
        evaluatorInvocations?: number;
        network?: 'lab' | 'loopback';
        fencing: 'agent' | 'watchdog' | 'ec2-stop';
        json?: boolean;
      }) => {
        const state = await localUp({
          dir: options.dir,
          standbys: options.standbys,
          witness: options.witness === true,
          cluster: options.cluster,
          autoFailover: options.autoFailover,
          autoRejoin: options.autoRejoin === true,
          synchronous: options.sync === true,
          fenceHook: options.fenceHook,
          webhookUrl: options.webhook,
          ...(options.evaluatorInvocations ? { evaluatorInvocationMs: options.evaluatorInvocations } : {}),
          ...(options.network ? { network: options.network } : {}),
          fencing: options.fencing,
          peerLeases: options.peerLeases === true,
          onProgress: options.json ? undefined : (line) => out(line),
        });
        if (options.json) {
          out(
            JSON.stringify({
              cluster: state.cluster,
              table: state.table,
              storeEndpoint: state.storeEndpoint,
              storePid: state.storePid,
              controllerPid: state.controllerPid,
              network: state.network,
              address: clusterAddress(state),
              // The lab's namespaces, so that tools outside the product can inject faults.
              lab: state.lab
                ? {
                    router: state.lab.routerNetns,
                    aws: state.lab.awsNetns,
                    awsIp: state.lab.awsIp,
                    clients: state.lab.appNetns,
                  }
                : null,
              notificationsFile: state.notificationsFile,
              nodes: state.nodes.map((node) => ({
                name: node.name,
                role: node.role,
                netns: node.netns,
                ip: node.ip,
                port: node.port,
                socketDir: node.socketDir,
                dataDir: node.dataDir,
                postmasterPid: node.postmasterPid,
                agentPid: node.agentPid,
                watchdogPid: node.watchdogPid,
              })),
            }),
          );
        } else {
          out(
            `local cluster ${state.cluster} is up. Status: pgfailover local status --dir ${options.dir}   Stop: pgfailover local down --dir ${options.dir}`,
          );
        }
      },
    );

  local
    .command('status')
    .description('cluster-status for the local cluster in DIR')
    .requiredOption('--dir <dir>', 'the directory given to local up')
    .option('--json', 'print the report as JSON')
    .action(async (options: { dir: string; json?: boolean }) => {
      printStatus(await localStatus(options.dir), options.json === true);
    });

  local
    .command('down')
    .option('--json', 'print the outcome as JSON')
    .description('stop every process local up started (agents, PostgreSQL, the state store)')
    .requiredOption('--dir <dir>', 'the directory given to local up')
    .option('--purge', 'also delete the directory and its data')
    .action(async (options: { dir: string; purge?: boolean; json?: boolean }) => {
      const cluster = readLocalState(options.dir).cluster;
      const result = await localDown(options.dir, { purge: options.purge === true });
      const namespaces = result.removedNamespaces.length
        ? `, ${result.removedNamespaces.length} network namespaces removed`
        : '';
      say(
        options.json,
        `local cluster ${cluster} stopped (${result.stoppedPids.length} processes${namespaces})${result.purged ? `; ${options.dir} removed` : ''}`,
        { cluster, ...result },
      );
    });

  local
    .command('clean')
    .option('--json', 'print the outcome as JSON')
    .description(
      'remove what a crashed local run left: with --dir, everything that run recorded; without, every lab namespace no process uses',
    )
    .option('--dir <dir>', 'the directory given to local up')
    .action(async (options: { dir?: string; json?: boolean }) => {
      const result = await localClean(options.dir);
      if (options.json) return say(true, '', { ...result });
      out(
        `stopped ${result.stoppedPids.length} processes, removed ${result.removedNamespaces.length} network namespaces${result.removedNamespaces.length ? ` (${result.removedNamespaces.join(', ')})` : ''}`,
      );
      if (result.inUse.length)
        out(
          `left alone, still in use: ${result.inUse.join(', ')} (stop their cluster with: pgfailover local down --dir DIR)`,
        );
    });

  local
    .command('drill')
    .description(
      'inject a fault while a writer commits through the cluster address; follow the failover and report its timeline and any lost writes',
    )
    .requiredOption('--dir <dir>', 'the directory given to local up')
    .addOption(new Option('--fault <fault>', 'what to break').choices([...FAULTS]).makeOptionMandatory())
    .option(
      '--stall-ms <ms>',
      'how long a temporary fault lasts (stall-primary, cut-primary-from-clients, blip-primary, lossy-primary, pause-evaluator, pause-store)',
      wholeNumber('--stall-ms', 1),
      2000,
    )
    .option(
      '--timeout-ms <ms>',
      'give up waiting for the outcome after this long',
      wholeNumber('--timeout-ms', 1000),
      60_000,
    )
    .option(
      '--at-handover',
      'inject the fault as a new evaluator invocation starts (a cluster started with --evaluator-invocations)',
    )
    .option('--json', 'print the report as one JSON object (the steps still go to stderr)')
    .action(async (options: DrillCommandOptions) => {
      const report = await runDrill({
        dir: options.dir,
        fault: options.fault,
        stallMs: options.stallMs,
        atHandover: options.atHandover === true,
        timeoutMs: options.timeoutMs,
        onStep: (line) => (options.json ? process.stderr.write(`${line}\n`) : out(line)),
      });
      if (options.json) out(JSON.stringify(report));
      else out(formatDrillReport(report));
      // A drill whose expected outcome never came failed, whatever it printed.
      process.exitCode = verdictExit(report.outcomeReached);
    });

  local
    .command('switchover')
    .option('--json', 'print the outcome as JSON')
    .description('planned switchover in the local cluster')
    .requiredOption('--dir <dir>', 'the directory given to local up')
    .requiredOption('--to <node>', 'the standby to promote', validated(nodeIdSchema, 'node id'))
    .option('--no-wait', 'return once the request is recorded')
    .option('--timeout-ms <ms>', 'how long to follow it', wholeNumber('--timeout-ms', 1000), 90_000)
    .action(async (options: { dir: string; to: string; wait: boolean; timeoutMs: number; json?: boolean }) => {
      const state = readLocalState(options.dir);
      await switchoverCommand(
        connectLocalStore(state),
        state.cluster,
        options.to,
        options.wait,
        options.timeoutMs,
        options.json,
      );
    });

  local
    .command('heal')
    .option('--json', 'print the outcome as JSON')
    .description(
      'undo what drills and the nemesis left: network faults, paused processes, stepped clocks; restart dead agents',
    )
    .requiredOption('--dir <dir>', 'the directory given to local up')
    .action(async (options: { dir: string; json?: boolean }) => {
      const done = await localHeal(options.dir);
      say(options.json, done.join('; '), { healed: done });
    });

  local
    .command('nemesis')
    .description(
      'random silent faults (seeded) against a lab cluster while clients write on both sides; checks never two writable primaries, no acknowledged row lost (sync), no promotion on a blip, recovery after each heal',
    )
    .option(
      '--seed <n>',
      'the seed: the same seed runs the same schedule',
      wholeNumber('--seed', 0),
      Math.floor(Math.random() * 1_000_000),
    )
    .option('--duration <time>', 'how long to keep injecting faults, e.g. 10m or 90s', '3m')
    .option('--async', 'asynchronous replication (lost acknowledged rows are then reported, not a violation)')
    .option('--peer-leases', 'peer leases on: a store outage then must promote nobody')
    .option('--recovery-bound <time>', 'after each heal the cluster must be whole within this long', '60s')
    .option('--dir <dir>', 'where to put the cluster (a new temporary directory by default)')
    .option('--json', 'print the report as JSON at the end')
    .action(
      async (options: {
        seed: number;
        duration: string;
        async?: boolean;
        peerLeases?: boolean;
        recoveryBound: string;
        dir?: string;
        json?: boolean;
      }) => {
        let durationMs: number;
        let recoveryBoundMs: number;
        try {
          durationMs = parseDuration(options.duration);
          recoveryBoundMs = parseDuration(options.recoveryBound);
        } catch (error) {
          throw new UsageError(
            `--duration / --recovery-bound: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        const report = await runNemesis({
          seed: options.seed,
          durationMs,
          synchronous: options.async !== true,
          peerLeases: options.peerLeases === true,
          recoveryBoundMs,
          ...(options.dir ? { dir: options.dir } : {}),
          onLine: (line) => (options.json ? process.stderr.write(`${line}\n`) : out(line)),
        });
        if (options.json) out(JSON.stringify(report));
        else
          out(
            `seed ${report.seed}: ${report.faults.length} faults, ${report.promotions} promotions, ${report.acknowledged} rows acknowledged, ${report.missing} missing, ${report.samples} samples; ${report.violations.length} violation(s)`,
          );
        process.exitCode = verdictExit(report.violations.length === 0);
      },
    );

  local
    .command('demo')
    .description('bring a cluster up, show it becoming healthy, and tear it down (npm run demo)')
    .action(async () => {
      process.exitCode = verdictExit(await runDemo());
    });
}
