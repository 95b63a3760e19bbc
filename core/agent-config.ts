// The agent's configuration file: one JSON file per host, validated in full at start so that a DBA sees
// every problem at once rather than one per restart.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { clusterNameSchema, describeIssues, nodeIdSchema, type Timeouts } from './records.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from './lease-timing.ts';

/**
 * Defaults aimed at EC2 inside one region, where the network and instances are reliable enough that
 * EFM's on-premises defaults (10 s / 60 s / 10 s / 10 s / 50 s) only add minutes of downtime:
 * - localPeriodMs 1000: the database is checked every second.
 * - localTimeoutMs 2000 + localTimeoutFinalMs 1000: a database that hangs is declared DOWN after at most
 *   about 3 s; one that refuses connections after two failed checks back to back (well under a second).
 * - remoteTimeoutMs 1000: how long a peer waits on the primary's database when it checks it, twice a second
 *   (then one final check of localTimeoutFinalMs): inside a region a connection answers in milliseconds, and
 *   a vote that comes too early cannot promote anyone while the primary still holds its lease.
 * - nodeTimeoutMs 15000: three heartbeats (5 s apart by default); a lost heartbeat or two raises nothing.
 *   A dead standby agent is reported, and its last report stops counting, after that long; a failover never
 *   waits on it (a dead primary node is judged by its lease and its peers' checks).
 */
export const DEFAULT_TIMEOUTS: Timeouts = {
  localPeriodMs: 1000,
  localTimeoutMs: 2000,
  localTimeoutFinalMs: 1000,
  remoteTimeoutMs: 1000,
  nodeTimeoutMs: 15_000,
};

/**
 * The heartbeat interval when the config gives none: DEFAULT_HEARTBEAT_INTERVAL_MS, or shorter when the node
 * timeout is, so that two heartbeats and a half always fit in it (a config written for the older 2 s default
 * with a 5 s node timeout keeps its 2 s).
 */
export function defaultHeartbeatIntervalMs(nodeTimeoutMs: number): number {
  return Math.max(1, Math.min(DEFAULT_HEARTBEAT_INTERVAL_MS, Math.floor(nodeTimeoutMs * 0.4)));
}

const positiveMs = z.number().int().positive().max(3_600_000);

const databaseSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(5432),
  dbname: z.string().min(1).default('postgres'),
  user: z.string().min(1).default('pgfailover'),
  /** Name of the environment variable that holds the password (the systemd unit's EnvironmentFile). */
  passwordEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .optional(),
  /** A file holding only the password; keep it mode 0600. Without either, libpq's ~/.pgpass is used. */
  passwordFile: z.string().min(1).optional(),
  /** A Secrets Manager secret (ARN or name) holding the password, or JSON with a "password" key. */
  passwordSecret: z.string().min(1).optional(),
  sslmode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
  /** The data directory: needed to fence this node (standby.signal) and to stop it when isolated. */
  dataDirectory: z.string().min(1).optional(),
});

/** How this node, as a standby, connects to a (new) primary: written into primary_conninfo. */
const replicationSchema = z.strictObject({
  user: z.string().min(1).default('replicator'),
  /** A libpq password file the postgres OS user can read; keeps the password out of primary_conninfo. */
  passfile: z.string().min(1).optional(),
  sslmode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
});

/** pgfailover rejoin: how pg_rewind reaches the current primary (a superuser, or a role granted the rewind functions). */
const rewindSchema = z.strictObject({
  user: z.string().min(1).default('postgres'),
  /** A libpq password file the postgres OS user can read, with a line for this user. */
  passfile: z.string().min(1).optional(),
});

/** Site scripts, run with /bin/sh -c and PGFAILOVER_* environment variables (docs/agent.md). */
const hooksSchema = z.strictObject({
  /** Run on the candidate before it promotes (EFM: script.fence); a non-zero exit aborts the failover. */
  fence: z.string().min(1).optional(),
  /** Run on the new primary after promotion (EFM: script.post.promotion); failure is reported, not fatal. */
  postPromotion: z.string().min(1).optional(),
  /** Run when this agent finds its local database failed (EFM: script.db.failure). */
  dbFailure: z.string().min(1).optional(),
  /** Run on a primary that stopped itself because it could not renew its lease (EFM: script.master.isolated). */
  primaryIsolated: z.string().min(1).optional(),
  /** Run when a database returns (UP again, or rejoined), %h its host (EFM: script.load.balancer.attach). */
  loadBalancerAttach: z.string().min(1).optional(),
  /**
   * Run with %h the host of a database that failed: by its own agent when it finds it down, and by the new
   * primary for the old one after a failover (EFM: script.load.balancer.detach).
   */
  loadBalancerDetach: z.string().min(1).optional(),
  /** The OS user hooks run as when the agent runs as root (EFM runs them as the efm user). */
  user: z.string().min(1).optional(),
  timeoutMs: z.number().int().positive().max(600_000).default(30_000),
});

const storeSchema = z.strictObject({
  table: z.string().min(3).max(255).default('pgfailover'),
  region: z.string().min(1).optional(),
  /** Only for the local mode and tests (dynalite); leave unset to reach DynamoDB itself. */
  endpoint: z.url().optional(),
});

const hostPortSchema = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port, such as 10.0.1.12:7654');

/**
 * Peer leases (docs/peer-leases.md): where this agent answers the primary's asks for a vouch, the other
 * voting members' agents, and the shared key every message is signed with. On only where the cluster's
 * policy also says so (set-policy --peer-leases on).
 */
const peerLeasesSchema = z.strictObject({
  /** Where this agent listens (UDP). */
  listen: hostPortSchema.default('0.0.0.0:7654'),
  /** Every other voting member's agent (database nodes and the witness), by node id. */
  peers: z.record(nodeIdSchema, hostPortSchema),
  /** A file holding the cluster's shared key (at least 32 characters; keep it mode 0600, the same on every host). */
  keyFile: z.string().min(1),
});

const rawConfigSchema = z.strictObject({
  cluster: clusterNameSchema,
  nodeId: nodeIdSchema,
  role: z.enum(['database', 'witness']).default('database'),
  /** The address peers and the address mover use for this node (its private IP on EC2). */
  address: z.string().min(1),
  store: storeSchema.default({ table: 'pgfailover' }),
  database: databaseSchema.optional(),
  /**
   * Where this host's PostgreSQL lives; each key is found on the host when left out (core/postgres-layout.ts:
   * Debian/Ubuntu, PGDG on RHEL/Rocky/Amazon Linux, distribution packages, source builds).
   */
  postgres: z
    .strictObject({
      /** The directory with pg_ctl, pg_rewind and pg_basebackup. */
      binDirectory: z.string().min(1).optional(),
      /** The OS user the server runs as (default: the data directory's owner). */
      osUser: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*$/, 'an OS user name such as postgres')
        .optional(),
      /** The directory holding postgresql.conf when it is not the data directory (Debian: /etc/postgresql/15/main). */
      configDirectory: z.string().min(1).optional(),
      /** The systemd unit that runs the server (the agent starts it through the unit), or false for none. */
      unit: z
        .union([
          z.string().regex(/^[A-Za-z0-9@._:-]+\.service$/, 'a unit name such as postgresql-15.service'),
          z.literal(false),
        ])
        .optional(),
    })
    .default({}),
  replication: replicationSchema.default({ user: 'replicator', sslmode: 'prefer' }),
  rewind: rewindSchema.default({ user: 'postgres' }),
  hooks: hooksSchema.default({ timeoutMs: 30_000 }),
  /**
   * EFM's stop.isolated.primary: a primary that cannot renew its lease stops its database before the
   * lease runs out.
   */
  stopIsolatedPrimary: z.boolean().default(true),
  /**
   * A watchdog that stops this host's database when the agent stops renewing it (clusters with fencing
   * "watchdog"): "device" is the Linux watchdog (/dev/watchdog, e.g. the softdog module), which resets
   * the host; "file" is the local mode's stand-in, a separate process that kills the postmaster.
   */
  watchdog: z
    .discriminatedUnion('kind', [
      z.strictObject({
        kind: z.literal('device'),
        path: z.string().min(1).default('/dev/watchdog'),
        /**
         * Optional: the countdown you set the device to (softdog's soft_margin). The agent reads the device's
         * own (sysfs) and refuses to arm one that counts otherwise; without it, whatever the device counts is
         * used if it fits in the lease.
         */
        timeoutMs: z.number().int().min(1000).max(60_000).optional(),
      }),
      z.strictObject({ kind: z.literal('file'), path: z.string().min(1) }),
    ])
    .optional(),
  /**
   * EFM's check.vip.before.promotion: before promoting, this node checks that the cluster address no
   * longer answers (it would mean the old primary still holds it); if it does, the promotion is refused.
   */
  checkAddressBeforePromotion: z.boolean().default(false),
  /**
   * Where the agent keeps the steps it has done in the current term (promote, hooks, fence, repoint), so a
   * restart neither repeats nor forgets one. Default: pgfailover-NODE.state.json beside the data directory.
   */
  stateFile: z.string().min(1).optional(),
  /** Default: defaultHeartbeatIntervalMs(timeouts.nodeTimeoutMs). */
  heartbeatIntervalMs: positiveMs.optional(),
  timeouts: z
    .strictObject({
      localPeriodMs: positiveMs.optional(),
      localTimeoutMs: positiveMs.optional(),
      localTimeoutFinalMs: positiveMs.optional(),
      remoteTimeoutMs: positiveMs.optional(),
      nodeTimeoutMs: positiveMs.optional(),
    })
    .default({}),
  aws: z
    .strictObject({
      /** Read instance id, ENI, subnet and private IP from instance metadata (IMDSv2) at start. */
      instanceMetadata: z.boolean().default(false),
      /** Only for tests: where IMDS answers. */
      imdsEndpoint: z.url().default('http://169.254.169.254'),
      instanceId: z
        .string()
        .regex(/^i-[0-9a-f]+$/, 'an EC2 instance id such as i-0abc123')
        .optional(),
      eniId: z
        .string()
        .regex(/^eni-[0-9a-f]+$/, 'an ENI id such as eni-0abc123')
        .optional(),
      subnetId: z
        .string()
        .regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0abc123')
        .optional(),
      /** secondary-ip clusters: the OS interface the agent brings the address up on when this node is primary. */
      secondaryIpDevice: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'an interface name such as eth0 or ens5')
        .default('eth0'),
      secondaryIpPrefixLength: z.number().int().min(1).max(32).default(32),
    })
    .default({
      instanceMetadata: false,
      imdsEndpoint: 'http://169.254.169.254',
      secondaryIpDevice: 'eth0',
      secondaryIpPrefixLength: 32,
    }),
  peerLeases: peerLeasesSchema.optional(),
  logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
});

type RawConfig = z.infer<typeof rawConfigSchema>;
export type DatabaseConfig = z.infer<typeof databaseSchema>;
export type AgentConfig = Omit<RawConfig, 'timeouts' | 'heartbeatIntervalMs'> & {
  timeouts: Timeouts;
  heartbeatIntervalMs: number;
};

/** Rules that tie keys together; each returns a problem or nothing. */
function crossChecks(raw: Omit<AgentConfig, 'timeouts'>, timeouts: Timeouts): string[] {
  const problems: string[] = [];
  if (raw.role === 'database' && !raw.database) {
    problems.push('database: required when role is "database" (how the agent reaches its local PostgreSQL)');
  }
  if (raw.role === 'witness' && raw.database) {
    problems.push('database: a witness has no database; remove this key or set role to "database"');
  }
  const passwordSources = ['passwordEnv', 'passwordFile', 'passwordSecret'].filter(
    (key) => raw.database?.[key as 'passwordEnv'] !== undefined,
  );
  if (passwordSources.length > 1) {
    problems.push(`database: give one password source, not ${passwordSources.join(' and ')}`);
  }
  if (timeouts.localTimeoutFinalMs > timeouts.localTimeoutMs) {
    problems.push(
      `timeouts.localTimeoutFinalMs (${timeouts.localTimeoutFinalMs}) must not exceed timeouts.localTimeoutMs (${timeouts.localTimeoutMs})`,
    );
  }
  if (raw.heartbeatIntervalMs * 2 > timeouts.nodeTimeoutMs) {
    problems.push(
      `timeouts.nodeTimeoutMs (${timeouts.nodeTimeoutMs}) must be at least twice heartbeatIntervalMs (${raw.heartbeatIntervalMs}), or one late heartbeat looks like a dead node`,
    );
  }
  if (raw.peerLeases && raw.nodeId in raw.peerLeases.peers) {
    problems.push(
      `peerLeases.peers: lists this node (${raw.nodeId}); list only the other voting members, this node listens on peerLeases.listen`,
    );
  }
  if (timeouts.localPeriodMs >= timeouts.nodeTimeoutMs) {
    problems.push(
      `timeouts.localPeriodMs (${timeouts.localPeriodMs}) must be shorter than timeouts.nodeTimeoutMs (${timeouts.nodeTimeoutMs})`,
    );
  }
  return problems;
}

/** Validates an already-parsed object; `source` names it in the error (a file path). */
export function parseAgentConfig(input: unknown, source = 'agent config'): AgentConfig {
  if (input !== null && typeof input === 'object' && 'database' in input) {
    const database = (input as { database?: unknown }).database;
    if (database !== null && typeof database === 'object' && 'password' in database) {
      // Checked before the schema so the message says what to do instead of "unrecognized key".
      throw new ConfigError(source, [
        'database.password: plain-text passwords are not accepted in the config; put the password in an environment variable named by database.passwordEnv, in a file named by database.passwordFile (mode 0600), or in ~/.pgpass',
      ]);
    }
  }
  const parsed = rawConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(source, describeIssues(parsed.error));
  const timeouts: Timeouts = { ...DEFAULT_TIMEOUTS, ...stripUndefined(parsed.data.timeouts) };
  const config = {
    ...parsed.data,
    heartbeatIntervalMs: parsed.data.heartbeatIntervalMs ?? defaultHeartbeatIntervalMs(timeouts.nodeTimeoutMs),
  };
  const problems = crossChecks(config, timeouts);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return { ...config, timeouts };
}

export function loadAgentConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [`cannot read the file: ${(error as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(path, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseAgentConfig(json, path);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
