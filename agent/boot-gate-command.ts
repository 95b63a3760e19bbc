// pgfailover-agent --boot-gate: the ExecStartPre of PostgreSQL's unit (the drop-in install.sh writes). Every
// start of the server passes here, so the boot-time fence no longer needs the agent's unit to be a
// requirement of PostgreSQL's, and restarting, upgrading or removing the agent never touches the server.
// It returns (exit 0) once the server may start; until the store answers it waits, and the unit's
// TimeoutStartSec=infinity lets it: an old primary never guesses.

import type { AgentConfig } from '../core/agent-config.ts';
import { bootGate } from '../core/agent-host-rules.ts';
import type { ClusterRecord, MembershipRecord } from '../core/records.ts';

export interface BootGateDeps {
  config: Pick<AgentConfig, 'cluster' | 'nodeId' | 'role' | 'replication'>;
  /** Consistent reads; each may throw while the store is away. */
  readCluster(): Promise<ClusterRecord | undefined>;
  readMembership(): Promise<MembershipRecord | undefined>;
  markedStandby(): boolean;
  /** Writes standby.signal, and primary_conninfo when there is a primary to follow. */
  markStandby(primaryConninfo: string | null): Promise<void>;
  conninfoFor(address: string): string;
  sleepMs(ms: number): Promise<void>;
  log(line: string): void;
  /** Between reads while the store does not answer. */
  retryMs?: number;
}

/** Resolves with why the server may start; waits (forever, as the unit allows) while the store is away. */
export async function runBootGate(deps: BootGateDeps): Promise<string> {
  const { config } = deps;
  if (config.role === 'witness') return 'a witness has no database';
  // A standby needs no store: it can only start as one.
  if (deps.markedStandby()) return 'standby.signal is in the data directory: PostgreSQL can only start as a standby';
  let failures = 0;
  for (;;) {
    try {
      const goal = await deps.readCluster();
      const { rule, answer } = bootGate({
        nodeId: config.nodeId,
        goal: goal
          ? { term: goal.term, primaryNodeId: goal.primaryNodeId, failoverRecorded: goal.failover !== null }
          : null,
        markedStandby: false,
      });
      if (answer.start) return answer.why;
      const address = answer.primaryNodeId
        ? (await deps.readMembership())?.allowed.find((node) => node.nodeId === answer.primaryNodeId)?.address
        : undefined;
      await deps.markStandby(address ? deps.conninfoFor(address) : null);
      return `${answer.why} [${rule}]`;
    } catch (error) {
      // Said on the first failure and then every tenth, so the journal shows why the server waits.
      if (failures++ % 10 === 0)
        deps.log(
          `cannot read cluster ${config.cluster} from the state store (${error instanceof Error ? error.message : String(error)}); PostgreSQL waits: this node may have been the primary of an older term`,
        );
      await deps.sleepMs(deps.retryMs ?? 2000);
    }
  }
}
