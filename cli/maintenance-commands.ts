// Day-two commands: promote (EFM's promote: a switchover, or a manual failover of a failed primary),
// pause and resume (maintenance; resume also brings back a halted cluster) and set-policy. Each change is
// a conditional write of the cluster record (core/cluster-update.ts) and an entry in the history with who
// did it and why.

import type { Command } from 'commander';
import { Option } from 'commander';
import { systemClock } from '../core/clock.ts';
import { updateClusterRecord } from '../core/cluster-update.ts';
import { UsageError } from '../core/errors.ts';
import { fencingWarning } from '../core/fencing.ts';
import { historyEntry } from '../core/history.ts';
import { planPolicyChange, type PolicyChange } from '../core/policy-change.ts';
import type { Severity } from '../core/records.ts';
import { nodeIdSchema } from '../core/records.ts';
import { planResume } from '../core/resume.ts';
import { requestPromotion, withdrawPromotion } from '../core/role-change-request.ts';
import type { StateStore } from '../core/state-store.ts';
import {
  changeOptions,
  operator,
  out,
  requireCluster,
  resolveStore,
  say,
  validated,
  wholeNumber,
  withStoreOptions,
  type StoreOptions,
} from './cli-support.ts';
import { followRoleChange } from './role-change.ts';
import { verdictExit } from '../core/exit-codes.ts';

interface ChangeNote {
  cluster: string;
  term: number;
  event: string;
  severity: Severity;
  subject: string;
  lines: string[];
  nodeId?: string | null;
  reason: string | undefined;
}

async function recordChange(store: StateStore, note: ChangeNote): Promise<void> {
  const by = operator();
  await store.appendHistory(
    historyEntry(
      {
        cluster: note.cluster,
        term: note.term,
        kind: 'change',
        event: note.event,
        severity: note.severity,
        subject: note.subject,
        body: [`By: ${by}`, `Why: ${note.reason ?? '(no reason given)'}`, ...note.lines].join('\n'),
        nodeId: note.nodeId ?? null,
        actor: by,
      },
      Date.now(),
    ),
  );
}

export function addMaintenanceCommands(program: Command): void {
  changeOptions(withStoreOptions(program.command('promote')))
    .summary('switchover with a healthy primary, manual failover of a failed one (EFM promote)')
    .description(
      "EFM's promote. With a healthy primary: a planned switchover to the target. With a failed primary: a " +
        'manual failover under every rule of an automatic one (failure confirmed by a majority, the old ' +
        "primary's lease run out or its node fenced); refused with the reason otherwise. Works with automatic " +
        'failover off and while paused.',
    )
    .option(
      '--target <node>',
      'the standby to promote (default: the most up-to-date eligible one)',
      validated(nodeIdSchema, 'node id'),
    )
    .option('--switchover', 'only a planned switchover: refuse if the primary is not healthy')
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .option('--no-wait', 'return once the request is recorded')
    .option(
      '--timeout-ms <ms>',
      'how long to follow it (a manual failover not started by then is withdrawn)',
      wholeNumber('--timeout-ms', 1000),
      90_000,
    )
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      '\n--force (where EFM prompts): promote a standby further behind than the lag limit (committed data may be lost),\n' +
        'or fail over a primary that no watchdog or fence can be shown to have stopped. Use it only after you have\n' +
        'made sure the old primary is stopped (its instance or its PostgreSQL). It never skips the confirmation of\n' +
        "the failure or the old primary's lease.",
    )
    .action(
      async (
        options: StoreOptions & {
          target?: string;
          switchover?: boolean;
          force?: boolean;
          reason?: string;
          wait: boolean;
          timeoutMs: number;
        },
      ) => {
        const { store, cluster } = resolveStore(options);
        const name = await requireCluster(store, cluster);
        const sinceMs = Date.now();
        const plan = await requestPromotion(store, name, operator(), systemClock, {
          ...(options.target ? { target: options.target } : {}),
          switchoverOnly: options.switchover === true,
          force: options.force === true,
        });
        const what =
          plan.kind === 'switchover'
            ? `switchover to ${plan.toNodeId}`
            : `manual failover${plan.toNodeId ? ` to ${plan.toNodeId}` : ''}${options.force ? ' (forced)' : ''}`;
        await recordChange(store, {
          cluster: name,
          term: plan.term,
          event: plan.kind === 'switchover' ? 'promote-switchover' : 'promote-failover',
          severity: plan.kind === 'switchover' ? 'INFO' : 'WARNING',
          subject: `${what} asked for`,
          lines: plan.kind === 'failover' && plan.waiting ? [`Waiting: ${plan.waiting}`] : [],
          nodeId: plan.toNodeId,
          reason: options.reason,
        });
        if (!options.json) {
          out(`${what} of ${name} requested; the evaluator carries it out`);
          if (plan.kind === 'failover' && plan.waiting) out(`waiting first: ${plan.waiting}`);
        }
        if (!options.wait) {
          if (options.json) say(options.json, '', { requested: plan, done: null });
          return;
        }
        const log = options.json ? (line: string) => process.stderr.write(`${line}\n`) : out;
        const outcome = await followRoleChange(
          store,
          name,
          { fromTerm: plan.term, toNodeId: plan.kind === 'switchover' ? plan.toNodeId : (options.target ?? null) },
          sinceMs,
          options.timeoutMs,
          log,
        );
        const primary = outcome.primary;
        let withdrawn = false;
        if (!primary && plan.kind === 'failover')
          withdrawn = await withdrawPromotion(store, name, plan.requestedAtMs, systemClock);
        say(
          options.json,
          primary
            ? `${plan.kind === 'switchover' ? 'switchover' : 'manual failover'} completed: ${primary} is the primary`
            : `${what} did not complete (${outcome.why})${withdrawn ? '; the request was withdrawn, nothing will be promoted for it' : ''}`,
          { requested: plan, done: primary !== null, primary, withdrawn, ...(outcome.why ? { why: outcome.why } : {}) },
        );
        process.exitCode = verdictExit(primary !== null);
      },
    );

  withStoreOptions(program.command('pause'))
    .summary('maintenance: no automatic failover, a stopped primary left alone')
    .description(
      "maintenance (Patroni's pause): failures are still detected and notified, but nobody is promoted " +
        'automatically and agents leave a stopped primary database alone, so it can be restarted or upgraded in ' +
        'place. A primary that cannot renew its lease still stops itself. pgfailover promote still works.',
    )
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .option('--reason <text>', 'why, for the history and the alert')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: StoreOptions & { reason?: string }) => {
      const { store, cluster } = resolveStore(options);
      const name = await requireCluster(store, cluster);
      const by = operator();
      const reason = options.reason ?? 'maintenance';
      const { before, after } = await updateClusterRecord(
        store,
        name,
        () => Date.now(),
        (snapshot) => (snapshot.cluster.pause ? {} : { pause: { sinceMs: Date.now(), by, reason } }),
      );
      const pause = before.cluster.pause;
      if (pause) {
        say(
          options.json,
          `cluster ${name} is already paused (since ${new Date(pause.sinceMs).toISOString()} by ${pause.by}: ${pause.reason})`,
          {
            cluster: name,
            paused: true,
            changed: false,
            pause,
          },
        );
        return;
      }
      await recordChange(store, {
        cluster: name,
        term: after.term,
        event: 'pause',
        severity: 'WARNING',
        subject: 'cluster paused: no automatic failover until pgfailover resume',
        lines: [`Reminder after: ${Math.round(after.policy.pauseReminderMs / 60_000)} min`],
        reason,
      });
      say(
        options.json,
        `cluster ${name} paused: no automatic failover, stopped databases are left alone; end it with pgfailover resume --cluster ${name}`,
        { cluster: name, paused: true, changed: true, pause: after.pause },
      );
    });

  changeOptions(withStoreOptions(program.command('resume')))
    .summary('end a pause; take a halted cluster back to steady')
    .description(
      'end a pause (automatic failover again), and take a halted cluster back to steady after checking that ' +
        'this cannot make a second writable primary',
    )
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: StoreOptions & { force?: boolean; reason?: string }) => {
      const { store, cluster } = resolveStore(options);
      const name = await requireCluster(store, cluster);
      const done: string[] = [];
      const { before, after } = await updateClusterRecord(
        store,
        name,
        () => Date.now(),
        (snapshot) => {
          done.length = 0;
          const { cluster: record } = snapshot;
          if (!record.pause && record.phase !== 'halted')
            throw new UsageError(
              `cluster ${name} is neither paused nor halted (phase ${record.phase}); there is nothing to resume`,
            );
          let changes = {};
          if (record.pause)
            done.push(
              `pause ended (paused since ${new Date(record.pause.sinceMs).toISOString()} by ${record.pause.by})`,
            );
          if (record.phase === 'halted') {
            const plan = planResume(snapshot, Date.now(), options.force === true);
            if (!plan.ok) throw new UsageError(`resume refused: ${plan.reason}. Nothing was changed`);
            done.push(`resumed from halted: ${plan.summary}`);
            changes = plan.next;
          }
          return { ...changes, pause: null };
        },
      );
      await recordChange(store, {
        cluster: name,
        term: after.term,
        event: 'resume',
        severity: before.cluster.phase === 'halted' ? 'WARNING' : 'INFO',
        subject: done.join('; '),
        lines: [],
        nodeId: after.primaryNodeId,
        reason: options.reason,
      });
      say(options.json, `cluster ${name}: ${done.join('; ')}`, {
        cluster: name,
        resumed: done,
        term: after.term,
        phase: after.phase,
      });
    });

  changeOptions(withStoreOptions(program.command('set-policy')))
    .summary('change auto-failover, lease, lag limit... and see what it means')
    .description(
      "change the cluster's failover policy at run time; prints what the new policy means for failover time " +
        "and blip tolerance. Node timeouts are each agent's own (timeouts.* in its config), as in EFM's properties.",
    )
    .option('--cluster <name>', 'cluster name (default: the only cluster in the table)')
    .addOption(new Option('--auto-failover <on|off>', 'fail over without a person').choices(['on', 'off']))
    .addOption(
      new Option('--auto-rejoin <on|off>', 'agents bring a stopped old primary back as a standby').choices([
        'on',
        'off',
      ]),
    )
    .option('--lease-ms <ms>', "how long the primary's lease lasts after each renewal", wholeNumber('--lease-ms', 1))
    .option(
      '--lease-margin-ms <ms>',
      'extra wait past the lease before promoting (clock drift, latency)',
      wholeNumber('--lease-margin-ms', 0),
    )
    .option(
      '--max-lag-bytes <bytes>',
      'never promote automatically a standby further behind than this',
      wholeNumber('--max-lag-bytes', 0),
    )
    .option(
      '--pause-reminder-ms <ms>',
      'a pause left on longer than this raises a SEVERE alert',
      wholeNumber('--pause-reminder-ms', 60_000),
    )
    .addOption(
      new Option(
        '--fencing <how>',
        'what stops an old primary whose agent is frozen or dead: watchdog, ec2-stop, or agent (nothing else; docs/failover.md)',
      ).choices(['agent', 'watchdog', 'ec2-stop']),
    )
    .addOption(
      new Option(
        '--peer-leases <on|off>',
        'a primary cut off from the state store keeps its database while a majority of members vouch for it (docs/peer-leases.md)',
      ).choices(['on', 'off']),
    )
    .option('--dry-run', 'check and explain, change nothing')
    .option('--json', 'print the outcome as JSON')
    .action(
      async (
        options: StoreOptions & {
          autoFailover?: 'on' | 'off';
          peerLeases?: 'on' | 'off';
          autoRejoin?: 'on' | 'off';
          leaseMs?: number;
          leaseMarginMs?: number;
          maxLagBytes?: number;
          pauseReminderMs?: number;
          fencing?: 'agent' | 'watchdog' | 'ec2-stop';
          dryRun?: boolean;
          reason?: string;
        },
      ) => {
        const { store, cluster } = resolveStore(options);
        const name = await requireCluster(store, cluster);
        const change: PolicyChange = {
          ...(options.autoFailover ? { autoFailover: options.autoFailover === 'on' } : {}),
          ...(options.autoRejoin ? { autoRejoin: options.autoRejoin === 'on' } : {}),
          ...(options.leaseMs !== undefined ? { leaseDurationMs: options.leaseMs } : {}),
          ...(options.leaseMarginMs !== undefined ? { leaseMarginMs: options.leaseMarginMs } : {}),
          ...(options.maxLagBytes !== undefined ? { maxLagBytes: options.maxLagBytes } : {}),
          ...(options.pauseReminderMs !== undefined ? { pauseReminderMs: options.pauseReminderMs } : {}),
          ...(options.fencing ? { fencing: options.fencing } : {}),
          ...(options.peerLeases ? { peerLeases: options.peerLeases === 'on' } : {}),
        };
        let plan = planPolicyChange(await store.readSnapshot(name), change);
        let term = 0;
        if (!options.dryRun) {
          const { after } = await updateClusterRecord(
            store,
            name,
            () => Date.now(),
            (snapshot) => {
              plan = planPolicyChange(snapshot, change);
              return { policy: plan.policy };
            },
          );
          term = after.term;
          await recordChange(store, {
            cluster: name,
            term,
            event: 'set-policy',
            severity: fencingWarning(plan.policy) && change.fencing ? 'WARNING' : 'INFO',
            subject: `policy changed: ${plan.changes.join(', ')}`,
            lines: plan.effects.map((effect) => `Effect: ${effect}`),
            reason: options.reason,
          });
        }
        say(
          options.json,
          [
            `${options.dryRun ? 'would change' : 'changed'} the policy of ${name}: ${plan.changes.join(', ')}`,
            ...plan.effects.map((effect) => `  - ${effect}`),
          ].join('\n'),
          {
            cluster: name,
            changed: !options.dryRun,
            changes: plan.changes,
            policy: plan.policy,
            effects: plan.effects,
          },
        );
      },
    );
}
