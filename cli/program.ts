// The administrator's program: every command but the local mode's. Wiring only: parse arguments, call the
// store and the core, print. Exit codes: 0 success (cluster-status: healthy), 1 cluster-status found
// problems, 2 bad input, 3 any other failure (store unreachable, PostgreSQL failed to start, ...).
// cli/main.ts adds the local mode (the repository's `pgfailover`); cli/admin.ts is the release's.

import { liveAsSent } from '../core/liveness.ts';
import { Command, CommanderError, Option } from 'commander';
import { systemClock } from '../core/clock.ts';
import { buildClusterStatus, formatClusterStatus, type ClusterStatusReport } from '../core/cluster-status.ts';
import { ConfigError, NotFoundError, StoreConflictError, UsageError } from '../core/errors.ts';
import {
  allowNode,
  membershipChangeVeto,
  removeNode,
  promotionOrder,
  setPriority,
  type Membership,
  type MembershipChange,
} from '../core/membership.ts';
import { historyEntry } from '../core/history.ts';
import {
  DEFAULT_CLUSTER_POLICY,
  clusterNameSchema,
  clusterRecordSchema,
  describeIssues,
  nodeIdSchema,
  type MembershipRecord,
} from '../core/records.ts';
import { StateStore } from '../core/state-store.ts';
import { explainStoreError } from '../core/store-errors.ts';
import { PGFAILOVER_VERSION } from '../core/version.ts';
import { followRoleChange } from './role-change.ts';
import { requestSwitchover } from '../core/role-change-request.ts';
import {
  changeOptions,
  operator,
  out,
  say,
  requireCluster,
  resolveStore,
  storeContext,
  validated,
  wholeNumber,
  withStoreOptions,
  type StoreOptions,
} from './cli-support.ts';
import { addMaintenanceCommands } from './maintenance-commands.ts';
import { addRejoinCommand } from './rejoin-command.ts';
import { addEfmCommands } from './efm-commands.ts';
import { EXIT, verdictExit } from '../core/exit-codes.ts';

export function printStatus(report: ClusterStatusReport, json: boolean): void {
  out(json ? JSON.stringify(report, null, 2) : formatClusterStatus(report));
  process.exitCode = verdictExit(report.healthy);
}

/** Asks for a switchover and follows it; shared by `switchover` and `local switchover`. */
export async function switchoverCommand(
  store: StateStore,
  cluster: string,
  to: string,
  wait: boolean,
  timeoutMs: number,
  json?: boolean,
): Promise<void> {
  const sinceMs = Date.now();
  const fromTerm = (await store.getCluster(cluster))?.term ?? 0;
  await requestSwitchover(store, cluster, to, operator(), systemClock);
  if (!json) out(`switchover of ${cluster} to ${to} requested; the evaluator carries it out`);
  if (!wait) {
    if (json) say(json, '', { cluster, to, requested: true, done: null });
    return;
  }
  const log = json ? (line: string) => process.stderr.write(`${line}\n`) : out;
  const outcome = await followRoleChange(store, cluster, { fromTerm, toNodeId: to }, sinceMs, timeoutMs, log);
  const done = outcome.primary !== null;
  say(json, done ? `switchover completed: ${to} is the primary` : `switchover did not complete (${outcome.why})`, {
    cluster,
    to,
    requested: true,
    done,
    primary: outcome.primary,
    ...(outcome.why ? { why: outcome.why } : {}),
    tookMs: Date.now() - sinceMs,
  });
  process.exitCode = verdictExit(done);
}

export function adminProgram(): Command {
  const program = new Command()
    .name('pgfailover')
    .description('Failover controller for PostgreSQL streaming replication: administration and local mode')
    .version(PGFAILOVER_VERSION)
    .showHelpAfterError()
    // Commander's own errors (unknown option, missing argument) are bad input, exit 2, like ours: exit 1
    // is kept for "cluster-status found problems", which a monitoring script must not confuse with a typo.
    // Subcommands inherit this.
    .exitOverride();

  withStoreOptions(program.command('init').option('--json', 'print the outcome as JSON'))
    .description('create a cluster record and an empty membership in the state table')
    .requiredOption('--cluster <name>', 'cluster name', validated(clusterNameSchema, 'cluster name'))
    .option('--no-auto-failover', 'detect and notify only; never promote without a person')
    .option(
      '--auto-rejoin',
      'agents make a stopped old primary (or broken standby) a standby of the primary themselves',
    )
    .option(
      '--max-lag-bytes <bytes>',
      'never promote automatically a standby further behind than this',
      wholeNumber('--max-lag-bytes', 0),
      DEFAULT_CLUSTER_POLICY.maxLagBytes,
    )
    .option(
      '--lease-ms <ms>',
      "how long the primary's lease lasts after each renewal",
      wholeNumber('--lease-ms', 1000),
      DEFAULT_CLUSTER_POLICY.leaseDurationMs,
    )
    .addOption(
      new Option(
        '--fencing <how>',
        'what stops an old primary whose agent is frozen or dead: agent (nothing else), watchdog (agents arm /dev/watchdog), ec2-stop (the evaluator stops its instance); docs/failover.md',
      )
        .choices(['agent', 'watchdog', 'ec2-stop'])
        .default(DEFAULT_CLUSTER_POLICY.fencing),
    )
    .addOption(
      new Option('--address-mode <mode>', 'how the cluster address follows the primary')
        .choices(['none', 'eip', 'secondary-ip', 'route-table'])
        .default('none'),
    )
    .option('--address <ip>', 'the address clients use: the Elastic IP, the secondary private IP, or the overlay IP')
    .option('--allocation-id <id>', 'eip: the Elastic IP allocation id (eipalloc-...)')
    .option('--route-table <id...>', 'route-table: the route tables to update (rtb-...)')
    .option('--create-table', 'create the state table first if it is missing (the CDK stack does this in AWS)')
    .action(
      async (
        options: StoreOptions & {
          autoFailover: boolean;
          autoRejoin?: boolean;
          maxLagBytes: number;
          leaseMs: number;
          fencing: 'agent' | 'watchdog' | 'ec2-stop';
          createTable?: boolean;
          addressMode: 'none' | 'eip' | 'secondary-ip' | 'route-table';
          address?: string;
          allocationId?: string;
          routeTable?: string[];
        },
      ) => {
        const { store, cluster } = resolveStore(options);
        if (!cluster) throw new UsageError('--cluster is required');
        const mode = options.addressMode;
        const needs: Record<typeof mode, [boolean, string][]> = {
          none: [],
          eip: [
            [!!options.address, '--address (the Elastic IP)'],
            [!!options.allocationId, '--allocation-id'],
          ],
          'secondary-ip': [[!!options.address, '--address (the secondary private IP)']],
          'route-table': [
            [!!options.address, '--address (the overlay IP, outside the VPC CIDR)'],
            [!!options.routeTable?.length, '--route-table'],
          ],
        };
        const missing = needs[mode].filter(([given]) => !given).map(([, what]) => what);
        if (missing.length > 0) throw new UsageError(`--address-mode ${mode} needs ${missing.join(' and ')}`);
        const address = clusterRecordSchema.shape.address.safeParse({
          mode,
          value: options.address ?? null,
          holderNodeId: null,
          ...(options.allocationId ? { allocationId: options.allocationId } : {}),
          ...(options.routeTable ? { routeTableIds: options.routeTable } : {}),
        });
        if (!address.success)
          throw new UsageError(`the address settings are not valid: ${describeIssues(address.error).join('; ')}`);
        if (options.createTable) await store.createTableIfMissing();
        const record = await store.initCluster(
          {
            cluster,
            address: address.data,
            policy: {
              ...DEFAULT_CLUSTER_POLICY,
              autoFailover: options.autoFailover,
              autoRejoin: options.autoRejoin === true,
              maxLagBytes: options.maxLagBytes,
              leaseDurationMs: options.leaseMs,
              fencing: options.fencing,
            },
          },
          Date.now(),
        );
        say(
          options.json,
          `cluster ${record.cluster} created in table ${store.table} (term ${record.term}); now allow its nodes with: pgfailover allow-node --cluster ${cluster} NODE --address ADDRESS`,
          {
            cluster: record.cluster,
            table: store.table,
            term: record.term,
            policy: record.policy,
            address: record.address,
          },
        );
      },
    );

  /**
   * Checks a membership change against the running cluster (the core's guard), applies it, and records it
   * in the history with who, what and why. Refused changes change nothing; --force applies them anyway and
   * says so in the history.
   */
  async function changeMembership(
    store: StateStore,
    cluster: string,
    change: MembershipChange,
    options: { force?: boolean; reason?: string },
    apply: (current: Membership, primaryNodeId: string | null) => Membership,
  ): Promise<{ membership: MembershipRecord; primaryNodeId: string | null }> {
    const snapshot = await store.readSnapshot(cluster);
    const nowMs = Date.now();
    const liveNodeIds = new Set(
      snapshot.heartbeats.filter((beat) => liveAsSent(beat, nowMs)).map((beat) => beat.nodeId),
    );
    const veto = membershipChangeVeto(snapshot.membership, change, {
      primaryNodeId: snapshot.cluster.primaryNodeId,
      liveNodeIds,
    });
    if (veto && !options.force)
      throw new UsageError(`refused: ${veto}. Nothing was changed; --force makes the change anyway`);
    const primaryNodeId = snapshot.cluster.primaryNodeId;
    const membership = await store.updateMembership(cluster, (current) => apply(current, primaryNodeId), nowMs);
    const what =
      change.kind === 'allow'
        ? `${change.nodeId} (${change.address}) allowed as a ${change.role} node${change.priority === undefined ? '' : `, priority ${change.priority}`}`
        : change.kind === 'remove'
          ? `${change.nodeId} removed from the allowed nodes`
          : `${change.nodeId} moved to priority ${change.priority}`;
    await store.appendHistory(
      historyEntry(
        {
          cluster,
          term: snapshot.cluster.term,
          kind: 'change',
          event: change.kind === 'allow' ? 'allow-node' : change.kind === 'remove' ? 'remove-node' : 'set-priority',
          severity: veto ? 'WARNING' : 'INFO',
          subject: `${what}${veto ? ' (forced)' : ''}`,
          body: [
            `By: ${operator()}`,
            `Why: ${options.reason ?? '(no reason given)'}`,
            ...(veto ? [`Forced past: ${veto}`] : []),
            `Promotion order now: ${promotionOrder(membership, primaryNodeId).join(' ') || '(no standby)'}`,
          ].join('\n'),
          nodeId: change.nodeId,
          actor: operator(),
        },
        nowMs,
      ),
    );
    return { membership, primaryNodeId };
  }

  changeOptions(withStoreOptions(program.command('allow-node').option('--json', 'print the outcome as JSON')))
    .description("allow a node to join the cluster (EFM's add-node / allow-node)")
    .argument('<node>', 'node id, as in the agent config', validated(nodeIdSchema, 'node id'))
    .requiredOption('--address <address>', "the node's address as in its agent config (host or host:port)")
    .option(
      '--priority <n>',
      'promotion order among equally up-to-date standbys: 1 is first (default: last)',
      wholeNumber('--priority', 1),
    )
    .option('--witness', 'the node is a witness: it votes but has no database and is never promoted')
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .action(
      async (
        node: string,
        options: StoreOptions & {
          address: string;
          priority?: number;
          witness?: boolean;
          force?: boolean;
          reason?: string;
        },
      ) => {
        const { store, cluster } = resolveStore(options);
        const name = await requireCluster(store, cluster);
        const role = options.witness ? 'witness' : 'database';
        if (options.witness && options.priority !== undefined)
          throw new UsageError('a witness is never promoted: drop --priority or --witness');
        const change: MembershipChange = {
          kind: 'allow',
          nodeId: node,
          address: options.address,
          role,
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
        };
        const { membership, primaryNodeId } = await changeMembership(store, name, change, options, (current, primary) =>
          allowNode(current, { nodeId: node, address: options.address, role }, options.priority, primary),
        );
        const order = promotionOrder(membership, primaryNodeId);
        await store.deleteRejected(name, node);
        say(
          options.json,
          `node ${node} (${options.address}) allowed in cluster ${name}; promotion order: ${order.join(' ') || '(no standby)'}`,
          { cluster: name, node, address: options.address, role, priority: order },
        );
      },
    );

  changeOptions(withStoreOptions(program.command('remove-node').option('--json', 'print the outcome as JSON')))
    .description('remove a node from the allowed and priority lists; its heartbeats are rejected from now on')
    .argument('<node>', 'node id', validated(nodeIdSchema, 'node id'))
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .action(async (node: string, options: StoreOptions & { force?: boolean; reason?: string }) => {
      const { store, cluster } = resolveStore(options);
      const name = await requireCluster(store, cluster);
      await changeMembership(store, name, { kind: 'remove', nodeId: node }, options, (current) =>
        removeNode(current, node),
      );
      await store.deleteHeartbeat(name, node);
      say(
        options.json,
        `node ${node} removed from cluster ${name}; a running agent there is now rejected: stop it (systemctl stop pgfailover-agent)`,
        { cluster: name, removed: node },
      );
    });

  changeOptions(withStoreOptions(program.command('set-priority').option('--json', 'print the outcome as JSON')))
    .description('move a standby in the promotion order (1 = first)')
    .argument('<node>', 'node id', validated(nodeIdSchema, 'node id'))
    .argument('<priority>', 'position, 1 = promoted first', wholeNumber('priority', 1))
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .action(async (node: string, priority: number, options: StoreOptions & { force?: boolean; reason?: string }) => {
      const { store, cluster } = resolveStore(options);
      const name = await requireCluster(store, cluster);
      const { membership, primaryNodeId } = await changeMembership(
        store,
        name,
        { kind: 'set-priority', nodeId: node, priority },
        options,
        (current, primary) => setPriority(current, node, priority, primary),
      );
      const order = promotionOrder(membership, primaryNodeId);
      say(options.json, `promotion order of ${name}: ${order.join(' ') || '(no standby)'}`, {
        cluster: name,
        priority: order,
      });
    });

  addMaintenanceCommands(program);
  addRejoinCommand(program);
  addEfmCommands(program);

  withStoreOptions(program.command('cluster-status'))
    .description(
      'status of every node, the allowed and priority lists, and whether a standby is safe to promote; exit 0 only when all is well',
    )
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .option('--json', 'print the report as JSON (docs/cluster-status-json.md)')
    .action(async (options: StoreOptions & { json?: boolean }) => {
      const { store, cluster } = resolveStore(options);
      const name = await requireCluster(store, cluster);
      printStatus(buildClusterStatus(await store.readSnapshot(name), Date.now()), options.json === true);
    });

  withStoreOptions(program.command('switchover').option('--json', 'print the outcome as JSON'))
    .description(
      'planned role change: the primary stops cleanly, the target catches up and is promoted, the old primary follows it',
    )
    .requiredOption('--to <node>', 'the standby to promote', validated(nodeIdSchema, 'node id'))
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .option('--no-wait', 'return once the request is recorded')
    .option('--timeout-ms <ms>', 'how long to follow it', wholeNumber('--timeout-ms', 1000), 90_000)
    .action(async (options: StoreOptions & { to: string; wait: boolean; timeoutMs: number }) => {
      const { store, cluster } = resolveStore(options);
      await switchoverCommand(
        store,
        await requireCluster(store, cluster),
        options.to,
        options.wait,
        options.timeoutMs,
        options.json,
      );
    });

  withStoreOptions(program.command('history'))
    .description("the cluster's decisions and notices, oldest first")
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .option('--limit <n>', 'how many of the newest entries', wholeNumber('--limit', 1), 50)
    .option('--json', 'print the entries as JSON')
    .action(async (options: StoreOptions & { limit: number; json?: boolean }) => {
      const { store, cluster } = resolveStore(options);
      const name = await requireCluster(store, cluster);
      const { entries } = await store.readHistory(name, options.limit);
      if (options.json) out(JSON.stringify(entries, null, 2));
      else
        out(
          entries
            .map(
              (entry) =>
                `${new Date(entry.atMs).toISOString()}  term ${entry.term}  ${entry.kind === 'decision' ? 'DECISION' : entry.kind === 'change' ? 'CHANGE  ' : entry.severity.padEnd(8)}  ${entry.event}: ${entry.subject}${entry.kind === 'change' ? ` [${entry.actor}]` : ''}`,
            )
            .join('\n') || 'no history yet',
        );
    });

  return program;
}

export async function runProgram(program: Command): Promise<void> {
  // `pgfailover history | head`: a reader that stops reading is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
    throw error;
  });
  try {
    await program.parseAsync();
  } catch (error) {
    const explained = storeContext ? explainStoreError(error, storeContext) : undefined;
    if (error instanceof CommanderError) {
      // Commander has printed its message (and the help) already; --help and --version end here with 0.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (explained) {
      process.stderr.write(`pgfailover: ${explained.message}\n`);
      process.exitCode = explained.exitCode;
    } else if (error instanceof UsageError || error instanceof ConfigError || error instanceof NotFoundError) {
      process.stderr.write(`pgfailover: ${error.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (error instanceof StoreConflictError) {
      process.stderr.write(
        `pgfailover: ${error.message}; read the current state with pgfailover cluster-status and try again\n`,
      );
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`pgfailover: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT.failure;
    }
  }
}
