// `pgfailover rejoin NODE`, run on NODE's own host with its agent config: makes a fenced old primary (or a
// broken standby) a streaming standby of the current primary (agent/rejoin.ts: pg_rewind, else a fresh
// base backup). Refused on the current primary, during a role change, and while no healthy primary runs.

import type { Command } from 'commander';
import { createNodeOps } from '../agent/node-ops.ts';
import { wireServer } from '../agent/server-layout.ts';
import { describeRejoin } from '../agent/rejoin.ts';
import { isAlive, postmasterPid, stopServer } from '../agent/server-control.ts';
import { loadAgentConfig } from '../core/agent-config.ts';
import { UsageError } from '../core/errors.ts';
import { historyEntry } from '../core/history.ts';
import { formatHostPort, parseNodeAddress } from '../core/node-address.ts';
import { nodeIdSchema } from '../core/records.ts';
import { readerFacts } from '../core/reader-facts.ts';
import { StateStore } from '../core/state-store.ts';
import { operator, out, validated } from './cli-support.ts';

export function addRejoinCommand(program: Command): void {
  program
    .command('rejoin')
    .summary("make this host's stopped old primary a standby again (pg_rewind, else base backup)")
    .description(
      "make this host's stopped old primary (or broken standby) a streaming standby of the current primary: " +
        "pg_rewind when its history diverged, a fresh base backup when rewind cannot work. Run it on the node's " +
        'own host, as root or the postgres user, with its agent config; never acts on the current primary.',
    )
    .argument('<node>', 'the node to rejoin: this host', validated(nodeIdSchema, 'node id'))
    .requiredOption('--config <file>', "this host's agent configuration (store, data directory, replication)")
    .option('--reason <text>', 'why, for the history')
    .option('--json', 'print the outcome as JSON')
    .action(async (node: string, options: { config: string; reason?: string; json?: boolean }) => {
      const config = loadAgentConfig(options.config);
      if (config.nodeId !== node)
        throw new UsageError(
          `${options.config} is the agent config of ${config.nodeId}, not ${node}: run rejoin on ${node}'s own host with its config`,
        );
      const dataDirectory = config.database?.dataDirectory;
      if (!dataDirectory)
        throw new UsageError(`${node} has no database.dataDirectory in ${options.config}: nothing to rejoin`);
      // This host's programs, OS user and PostgreSQL unit, as the agent finds them.
      const wiring = wireServer(config);
      const store = StateStore.connect(config.store);
      const snapshot = await store.readSnapshot(config.cluster);
      const { cluster } = snapshot;
      const facts = readerFacts(snapshot, Date.now());
      const refuse = (why: string) => new UsageError(`rejoin of ${node} refused: ${why}. Nothing was changed`);
      if (cluster.primaryNodeId === node)
        throw refuse(`${node} is the primary of term ${cluster.term}; rejoin never touches the current primary`);
      if (cluster.phase !== 'steady')
        throw refuse(`a ${cluster.failover?.kind ?? 'role change'} is under way (phase ${cluster.phase}); wait for it`);
      const primaryAddress = snapshot.membership.allowed.find((n) => n.nodeId === cluster.primaryNodeId)?.address;
      if (!facts.primaryHealthy || !primaryAddress)
        throw refuse(`the primary ${cluster.primaryNodeId ?? '(none)'} is not healthy, so there is nothing to follow`);

      const primary = parseNodeAddress(primaryAddress);
      const running = postmasterPid(dataDirectory);
      if (running !== undefined && isAlive(running)) {
        const beat = snapshot.heartbeats.find((b) => b.nodeId === node);
        if (beat?.agentType === 'standby' && beat.upstream === formatHostPort(primary)) {
          out(`${node} is already a standby streaming from ${cluster.primaryNodeId ?? '?'}: nothing to do`);
          return;
        }
        if (beat?.agentType === 'primary')
          throw refuse(`its server accepts writes; its agent fences it (or stop it: pg_ctl stop -m fast), then rejoin`);
        await stopServer(dataDirectory, 'fast');
      }
      const startedMs = Date.now();
      const how = await createNodeOps(config, undefined, undefined, wiring?.server).rejoin(primaryAddress);
      const what = `${node} rejoined as a standby of ${cluster.primaryNodeId ?? '?'} by ${describeRejoin(how)}`;
      await store.appendHistory(
        historyEntry(
          {
            cluster: config.cluster,
            term: cluster.term,
            kind: 'change',
            event: 'rejoin',
            severity: 'INFO',
            subject: what,
            body: [
              `By: ${operator()}`,
              `Why: ${options.reason ?? '(no reason given)'}`,
              `Took: ${Date.now() - startedMs} ms`,
            ].join('\n'),
            nodeId: node,
            actor: operator(),
          },
          Date.now(),
        ),
      );
      out(
        options.json
          ? JSON.stringify({ node, primary: cluster.primaryNodeId, how, tookMs: Date.now() - startedMs })
          : what,
      );
    });
}
