// Every item kept in the state table, as a zod schema. Items read from the store are parsed with these,
// never cast: an item that does not parse is reported (cluster-status lists it) and never counted.
//
// Layout: one table, partition key `cluster`, sort key `sk`, so one deployment serves many clusters
// and IAM can confine an agent to its own cluster's partition (dynamodb:LeadingKeys).
//   sk = "CLUSTER"            the cluster record: term, primary, lease, address holder, policy
//   sk = "MEMBERSHIP"         allowed nodes and the standby priority list
//   sk = "HB#<nodeId>"        the latest heartbeat of an allowed node's agent
//   sk = "REJECTED#<nodeId>"  heartbeats refused because the node is not allowed
//   sk = "~HIST#<ms>#<id>"    the cluster's history: every decision and notice (TTL: expiresAt)
// and one partition of its own, "#INDEX" (never a cluster name: those start with a letter or digit):
//   sk = "CLUSTER#<name>"     one per cluster, so the evaluator lists clusters with one Query, not a Scan
//   sk = "EVALUATOR"          which evaluator invocation evaluates now (overlapping ones stand down)

import { z } from 'zod';
import { isLsn } from './lsn.ts';

/** The partition that lists the clusters and coordinates evaluators. */
export const INDEX_PARTITION = '#INDEX';

export const SK = {
  clusterIndexPrefix: 'CLUSTER#',
  evaluator: 'EVALUATOR',
  cluster: 'CLUSTER',
  membership: 'MEMBERSHIP',
  heartbeatPrefix: 'HB#',
  rejectedPrefix: 'REJECTED#',
  /** '~' sorts after every other key, so reads of the live state can skip the history by key range. */
  historyPrefix: '~HIST#',
} as const;

export const nodeIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/,
    'a node id is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit',
  );
export const clusterNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/,
    'a cluster name is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit',
  );

export const lsnSchema = z.string().refine(isLsn, 'not a WAL position such as 16/B374D848');
const epochMs = z.number().int().nonnegative();

export const agentTypeSchema = z.enum(['primary', 'standby', 'witness', 'idle']);
export type AgentType = z.infer<typeof agentTypeSchema>;
/** UP: checked and answering. DOWN: confirmed down after the final check. UNKNOWN: not (yet) known. */
export const dbStatusSchema = z.enum(['UP', 'DOWN', 'UNKNOWN', 'N/A']);
export type DbStatus = z.infer<typeof dbStatusSchema>;
export const agentStatusSchema = z.enum(['UP', 'EXITED']);

export const addressModeSchema = z.enum(['none', 'local', 'eip', 'secondary-ip', 'route-table']);

export const clusterPolicySchema = z.looseObject({
  autoFailover: z.boolean(),
  /** A standby further behind than this is never promoted automatically and makes cluster-status fail. */
  maxLagBytes: z.number().int().nonnegative(),
  /** How long a primary's lease lasts after each renewal. */
  leaseDurationMs: z.number().int().positive(),
  /** Extra wait past the lease before promoting: covers clock-rate drift and request latency. */
  leaseMarginMs: z.number().int().nonnegative(),
  /**
   * What stops an old primary (or a candidate) that its own agent cannot stop because it is frozen or
   * dead: "agent" (nothing: the agent's self-fence only), "watchdog" (every lease holder arms a host
   * watchdog that stops the database when the lease is not renewed), "ec2-stop" (the evaluator stops the
   * old primary's instance, as Pacemaker's fence_aws does, before anyone is promoted). docs/failover.md
   * says which promise each makes.
   */
  fencing: z.enum(['agent', 'watchdog', 'ec2-stop']).default('agent'),
  /** A pause left on longer than this raises a SEVERE reminder (Patroni's pause has none; people forget). */
  pauseReminderMs: z.number().int().positive().default(3_600_000),
  /**
   * A stopped database that is not the primary (a fenced old primary, a broken standby) is made a standby of
   * the primary by its own agent (pg_rewind, else a fresh base backup), as pg_auto_failover's keeper does.
   * Off by default, as in EFM: the DBA runs pgfailover rejoin.
   */
  autoRejoin: z.boolean().default(false),
  /**
   * A primary that cannot reach the store keeps its server while a majority of the voting members vouch for
   * it directly (docs/peer-leases.md); every agent needs peerLeases in its config. Off by default; with it
   * on, a watchdog no longer proves a silent primary stopped at its store lease's end.
   */
  peerLeases: z.boolean().default(false),
});
export type ClusterPolicy = z.infer<typeof clusterPolicySchema>;

export const clusterRecordSchema = z.looseObject({
  cluster: clusterNameSchema,
  sk: z.literal(SK.cluster),
  /** Bumped by every conditional write; writers condition on the version they read. */
  version: z.number().int().nonnegative(),
  /** The cluster term (epoch): bumped on every role change; commands carry it, agents ignore older ones. */
  term: z.number().int().nonnegative(),
  primaryNodeId: nodeIdSchema.nullable(),
  /** Renewals the primary has made in this term; the evaluator times the lease by watching this change. */
  leaseRenewals: z.number().int().nonnegative(),
  /** Set by the primary's agent after it fenced its own database: the lease need not be waited out. */
  leaseReleased: z.boolean(),
  /**
   * The lease duration the holder assumed at its last renewal. The evaluator waits out the longer of this
   * and the policy's, so a lease shortened by set-policy is never judged by the new length before the
   * holder has renewed under it. Null before the first renewal of a term.
   */
  leaseGrantedMs: z.number().int().positive().nullable().default(null),
  /** steady: serving. demoting: a switchover is stopping the primary cleanly. promoting: term bumped,
   * the candidate is promoting. promoted: the candidate is writable and holds the address; standbys are
   * being repointed. halted: a failover was aborted. */
  phase: z.enum(['steady', 'demoting', 'promoting', 'promoted', 'halted']),
  /** A planned switchover asked for by an administrator, until it is carried out or refused. */
  switchover: z
    .looseObject({
      toNodeId: nodeIdSchema,
      requestedAtMs: epochMs,
      requestedBy: z.string(),
    })
    .nullable(),
  /**
   * A manual failover asked for by an administrator (pgfailover promote, EFM's promote): carried out by
   * the evaluator under every rule of an automatic one (confirmed failure, lease or fence), regardless of
   * autoFailover and pause. Dropped, with a notice, as soon as it cannot apply (the primary is healthy,
   * the target cannot be promoted) and when the term changes.
   */
  promotion: z
    .looseObject({
      /** The standby to promote, or null for the evaluator's choice. */
      toNodeId: nodeIdSchema.nullable(),
      term: z.number().int().nonnegative(),
      requestedAtMs: epochMs,
      requestedBy: z.string(),
      /** The administrator accepts a standby past the lag limit, and vouches the old primary is stopped. */
      force: z.boolean(),
    })
    .nullable()
    .default(null),
  /**
   * Maintenance (Patroni's pause): detection and notices go on, nothing is promoted automatically and
   * agents leave a stopped primary database alone (no fence), so it can be restarted or upgraded in place.
   * The lease still holds: a primary that cannot renew still stops itself.
   */
  pause: z
    .looseObject({
      sinceMs: epochMs,
      by: z.string(),
      reason: z.string(),
    })
    .nullable()
    .default(null),
  failover: z
    .looseObject({
      kind: z.enum(['failover', 'switchover']),
      fromNodeId: nodeIdSchema.nullable(),
      toNodeId: nodeIdSchema,
      startedAtMs: epochMs,
      reason: z.string(),
      promotedAtMs: epochMs.nullable(),
      addressMovedAtMs: epochMs.nullable(),
    })
    .nullable(),
  /** fencing "ec2-stop": the node the evaluator is stopping from outside, and since when it is stopped. */
  fence: z
    .looseObject({
      nodeId: nodeIdSchema,
      term: z.number().int().nonnegative(),
      requestedAtMs: epochMs,
      stoppedAtMs: epochMs.nullable(),
    })
    .nullable()
    .default(null),
  /** Conditions currently alerted on, so that each is notified once when it starts and once when it ends. */
  alerts: z.array(
    z.looseObject({
      key: z.string(),
      severity: z.enum(['INFO', 'WARNING', 'SEVERE']),
      subject: z.string(),
      sinceMs: epochMs,
    }),
  ),
  address: z.looseObject({
    mode: addressModeSchema,
    /** The address clients use: the Elastic IP, the secondary private IP, the overlay IP, or host:port locally. */
    value: z.string().nullable(),
    holderNodeId: nodeIdSchema.nullable(),
    /** eip: the Elastic IP's allocation id (eipalloc-...). */
    allocationId: z
      .string()
      .regex(/^eipalloc-[0-9a-f]+$/, 'an allocation id such as eipalloc-0abc123')
      .optional(),
    /** route-table: the route tables whose route for the overlay address follows the primary. */
    routeTableIds: z.array(z.string().regex(/^rtb-[0-9a-f]+$/, 'a route table id such as rtb-0abc123')).optional(),
  }),
  policy: clusterPolicySchema,
  createdAtMs: epochMs,
  updatedAtMs: epochMs,
});
export type ClusterRecord = z.infer<typeof clusterRecordSchema>;

export const allowedNodeSchema = z.looseObject({
  nodeId: nodeIdSchema,
  address: z.string().min(1),
  /** A witness votes but has no database: it is never promoted and never counted as a standby. */
  role: z.enum(['database', 'witness']).default('database'),
});
export type AllowedNode = z.infer<typeof allowedNodeSchema>;

export const membershipRecordSchema = z.looseObject({
  cluster: clusterNameSchema,
  sk: z.literal(SK.membership),
  version: z.number().int().nonnegative(),
  allowed: z.array(allowedNodeSchema),
  /** Promotion order for standbys that are equally up to date; allowed nodes not listed come after, in allow order. */
  priority: z.array(nodeIdSchema),
  updatedAtMs: epochMs,
});
export type MembershipRecord = z.infer<typeof membershipRecordSchema>;

export const timeoutsSchema = z.looseObject({
  localPeriodMs: z.number().int().positive(),
  localTimeoutMs: z.number().int().positive(),
  localTimeoutFinalMs: z.number().int().positive(),
  remoteTimeoutMs: z.number().int().positive(),
  nodeTimeoutMs: z.number().int().positive(),
});
export type Timeouts = z.infer<typeof timeoutsSchema>;

export const replicationPeerSchema = z.looseObject({
  applicationName: z.string(),
  clientAddr: z.string().nullable(),
  state: z.string(),
  syncState: z.string(),
  sentLsn: lsnSchema.nullable(),
  flushLsn: lsnSchema.nullable(),
  replayLsn: lsnSchema.nullable(),
  /**
   * How long ago the primary last heard from this standby (pg_stat_replication.reply_time): a silently cut
   * standby stays "streaming" until wal_sender_timeout, but stops replying. Absent from older agents.
   */
  replyAgeMs: z.number().nonnegative().nullable().optional(),
});
export type ReplicationPeer = z.infer<typeof replicationPeerSchema>;

export const hostFactsSchema = z.looseObject({
  hostname: z.string(),
  /** Where peers and the address mover reach this node's database. */
  address: z.string(),
  dbPort: z.number().int().positive().nullable(),
  privateIp: z.string().nullable(),
  instanceId: z.string().nullable(),
  eniId: z.string().nullable(),
  /** A secondary private IP can only move between nodes of one subnet. */
  subnetId: z.string().nullable().optional(),
});

export const heartbeatRecordSchema = z.looseObject({
  cluster: clusterNameSchema,
  sk: z.string().startsWith(SK.heartbeatPrefix),
  nodeId: nodeIdSchema,
  /** A new random id each time the agent starts; with seq it orders heartbeats without trusting clocks. */
  bootId: z.string().min(1),
  seq: z.number().int().nonnegative(),
  /** The agent's own clock when it sent this: shown to people, never used alone to judge liveness. */
  sentAtMs: epochMs,
  agentType: agentTypeSchema,
  agentStatus: agentStatusSchema,
  dbStatus: dbStatusSchema,
  /** Why the database has the status it has, in words for a DBA ("" when there is nothing to say). */
  dbInfo: z.string(),
  timeline: z.number().int().positive().nullable(),
  currentLsn: lsnSchema.nullable(),
  receivedLsn: lsnSchema.nullable(),
  replayedLsn: lsnSchema.nullable(),
  replayLagMs: z.number().nonnegative().nullable(),
  replication: z.array(replicationPeerSchema),
  /**
   * A primary's synchronous commits: whether they wait for a standby (synchronous_standby_names is set), and
   * how many sessions have waited for one for over a second (wait event SyncRep), the longest for how long
   * (whole seconds). Null on a standby, absent from older agents.
   */
  syncCommits: z
    .looseObject({
      required: z.boolean(),
      waiting: z.number().int().nonnegative(),
      longestWaitMs: z.number().nonnegative().nullable(),
    })
    .nullable()
    .optional(),
  host: hostFactsSchema,
  timeouts: timeoutsSchema,
  agentVersion: z.string(),
  /** The highest cluster term whose goal this agent has seen; it ignores anything older. */
  term: z.number().int().nonnegative(),
  /** This agent's remote check of the recorded primary's database (EFM remote.timeout), or null. */
  primaryCheck: z
    .looseObject({
      primaryNodeId: nodeIdSchema,
      status: z.enum(['UP', 'DOWN', 'UNKNOWN']),
      reason: z.string(),
    })
    .nullable(),
  /** The outcome of the last goal-state action this agent took (promote, fence, repoint, hooks). */
  action: z
    .looseObject({
      term: z.number().int().nonnegative(),
      step: z
        .enum([
          'fence-hook-failed',
          'promote-failed',
          'promoted',
          'fenced',
          'repointed',
          'post-promotion-hook-failed',
          'demoted',
          'demote-failed',
          'rejoined',
          'rejoin-failed',
        ])
        // A step a newer agent reports is read as one this release has no rule for: it waits, never acts on it.
        .or(z.string().transform(() => 'unknown' as const)),
      detail: z.string(),
      /** demoted: the WAL position the switchover's clean stop ended at (older agents put it in `detail`). */
      stoppedAtLsn: lsnSchema.optional(),
    })
    .nullable(),
  /** Where a standby's WAL receiver streams from ("host:port"), or null. */
  upstream: z.string().nullable(),
  /**
   * A watchdog on this host will stop the database at the end of this node's lease unless the agent
   * renews it: the lease is then kept even if the agent freezes or dies (fencing "watchdog").
   */
  watchdogArmed: z.boolean().default(false),
  /** Hooks whose last run failed, with the exit code and output: the evaluator alerts on each. */
  hookFailures: z
    .array(
      z.looseObject({
        hook: z.string(),
        exitCode: z.number().int().nullable(),
        detail: z.string(),
        atMs: epochMs,
      }),
    )
    .default([]),
});
export type HeartbeatRecord = z.infer<typeof heartbeatRecordSchema>;

export const severitySchema = z.enum(['INFO', 'WARNING', 'SEVERE']);
export type Severity = z.infer<typeof severitySchema>;

/** One entry of a cluster's history: every decision and every notice, with its reason. */
export const historyRecordSchema = z.looseObject({
  cluster: clusterNameSchema,
  sk: z.string().startsWith('~HIST#'),
  atMs: epochMs,
  term: z.number().int().nonnegative(),
  /** decision: the evaluator's; notice: an alert sent; change: an administrator's (membership, policy). */
  kind: z.enum(['decision', 'notice', 'change']),
  event: z.string(),
  severity: severitySchema,
  subject: z.string(),
  body: z.string(),
  nodeId: z.string().nullable(),
  actor: z.string(),
  /** Epoch seconds after which DynamoDB's TTL may delete the entry. */
  expiresAt: z.number().int().positive(),
});
export type HistoryRecord = z.infer<typeof historyRecordSchema>;

export const rejectedHeartbeatSchema = z.looseObject({
  cluster: clusterNameSchema,
  sk: z.string().startsWith(SK.rejectedPrefix),
  nodeId: nodeIdSchema,
  address: z.string(),
  reason: z.string(),
  firstAtMs: epochMs,
  lastAtMs: epochMs,
  attempts: z.number().int().positive(),
});
export type RejectedHeartbeat = z.infer<typeof rejectedHeartbeatSchema>;

export function heartbeatKey(nodeId: string): string {
  return `${SK.heartbeatPrefix}${nodeId}`;
}
export function rejectedKey(nodeId: string): string {
  return `${SK.rejectedPrefix}${nodeId}`;
}

/** Turns zod issues into one line each, naming the key path and saying what to do. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map(
        (key) => `${path ? `${path}.` : ''}${key}: unknown key; check its spelling against the documented keys`,
      );
    }
    if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      return [`${path}: required key is missing (expected ${issue.expected})`];
    }
    return [`${path || '(top level)'}: ${issue.message}`];
  });
}

/** A new cluster's record: term 1, steady, no lease taken yet (`pgfailover init`, the simulation). */
export function newClusterRecord(
  spec: { cluster: string; policy: ClusterPolicy; address?: ClusterRecord['address']; primaryNodeId?: string | null },
  nowMs: number,
): ClusterRecord {
  return {
    cluster: spec.cluster,
    sk: SK.cluster,
    version: 1,
    term: 1,
    primaryNodeId: spec.primaryNodeId ?? null,
    leaseRenewals: 0,
    leaseReleased: false,
    leaseGrantedMs: null,
    phase: 'steady',
    switchover: null,
    promotion: null,
    pause: null,
    failover: null,
    fence: null,
    alerts: [],
    address: spec.address ?? { mode: 'none', value: null, holderNodeId: null },
    policy: spec.policy,
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
  };
}

/** Defaults for a new cluster; `pgfailover init` flags override them. */
export const DEFAULT_CLUSTER_POLICY: ClusterPolicy = {
  autoFailover: true,
  // 16 MiB of WAL: one segment. A standby further behind is not promoted without a person deciding.
  maxLagBytes: 16 * 1024 * 1024,
  // The primary renews every 500 ms (every 50 ms once a renewal fails) and stops itself 150 ms before its
  // lease ends, so a store or network blip of up to 2.1 s passes unnoticed; a dead primary node can be
  // replaced 2.85 s after its last renewal was seen. The margin keeps the grant 50 ms past the lease's end:
  // with the agent's lead (0.15 s) or the watchdog's (0.1 s) the old server is stopped at least 0.15 s
  // before a new term exists, and the candidate needs a read, a write and pg_promote() after that
  // (core/lease-timing.ts, docs/failover.md).
  leaseDurationMs: 2_800,
  leaseMarginMs: 50,
  fencing: 'watchdog',
  pauseReminderMs: 3_600_000,
  autoRejoin: false,
  peerLeases: false,
};
