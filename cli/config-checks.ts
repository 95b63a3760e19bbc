// check-config: one node's agent config checked against everything it names, as EFM's prop-check and
// node-check do: the state table and the cluster's record, the node's membership, the database (reached
// as the agent reaches it), the files and scripts, and the cluster's fencing and lease policy.

import { accessSync, constants, existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { execFileSync } from 'node:child_process';
import { probeDatabase } from '../agent/database-probe.ts';
import { resolvePassword } from '../agent/password.ts';
import { loadAgentConfig, type AgentConfig } from '../core/agent-config.ts';
import { LEASE_RENEW_INTERVAL_MS, leaseProblem, watchdogCountdownProblem } from '../core/lease-timing.ts';
import { systemClock } from '../core/clock.ts';
import { DeviceWatchdog } from '../agent/watchdog/device-watchdog.ts';
import { readPeerKey } from '../agent/peer/peer-key.ts';
import { hostView } from '../agent/host-view.ts';
import { describeLayout, resolvePostgresLayout } from '../core/postgres-layout.ts';
import { heartbeatRejection } from '../core/membership.ts';
import type { ClusterRecord, MembershipRecord } from '../core/records.ts';
import { StateStore } from '../core/state-store.ts';
import { explainStoreError } from '../core/store-errors.ts';

export interface ConfigCheck {
  name: string;
  status: 'OK' | 'FAIL' | 'WARN' | 'SKIP';
  detail: string;
}

const ok = (name: string, detail: string): ConfigCheck => ({ name, status: 'OK', detail });
const fail = (name: string, detail: string): ConfigCheck => ({ name, status: 'FAIL', detail });
const warn = (name: string, detail: string): ConfigCheck => ({ name, status: 'WARN', detail });
const skip = (name: string, detail: string): ConfigCheck => ({ name, status: 'SKIP', detail });

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The program a hook runs: an absolute path must be executable; a bare name must be on the PATH. */
function hookCheck(name: string, command: string): ConfigCheck {
  const program = command.trim().split(/\s+/)[0] ?? '';
  if (isAbsolute(program)) {
    try {
      accessSync(program, constants.X_OK);
      return ok(`hook ${name}`, `${program} is executable`);
    } catch {
      return fail(`hook ${name}`, `${program} does not exist or is not executable`);
    }
  }
  try {
    execFileSync('/bin/sh', ['-c', `command -v ${JSON.stringify(program)}`], { stdio: 'ignore' });
    return ok(`hook ${name}`, `${program} found on the PATH`);
  } catch {
    return warn(`hook ${name}`, `${program} is not on this PATH (the agent's may differ)`);
  }
}

function fileChecks(config: AgentConfig): ConfigCheck[] {
  const checks: ConfigCheck[] = [];
  const files: [string, string | undefined][] = [
    ['replication.passfile', config.replication.passfile],
    ['rewind.passfile', config.rewind.passfile],
    ['database.passwordFile', config.database?.passwordFile],
  ];
  for (const [name, path] of files) {
    if (!path) continue;
    checks.push(readable(path) ? ok(name, `${path} is readable`) : fail(name, `${path} cannot be read`));
  }
  const dataDirectory = config.database?.dataDirectory;
  if (dataDirectory)
    checks.push(
      existsSync(`${dataDirectory}/PG_VERSION`)
        ? ok('database.dataDirectory', `${dataDirectory} holds a PostgreSQL data directory`)
        : fail('database.dataDirectory', `${dataDirectory} holds no PG_VERSION: not a data directory (on this host)`),
    );
  for (const [name, command] of Object.entries(config.hooks)) {
    if (typeof command === 'string' && name !== 'user') checks.push(hookCheck(name, command));
  }
  return checks;
}

/** Where this host's PostgreSQL was found (programs, OS user, postgresql.conf, unit), or what to set. */
function layoutChecks(config: AgentConfig): ConfigCheck[] {
  if (config.role !== 'database') return [];
  try {
    const layout = resolvePostgresLayout(config.postgres, config.database?.dataDirectory, hostView(), process.env);
    return [ok('postgres', describeLayout(layout).join('; '))];
  } catch (error) {
    return [fail('postgres', error instanceof Error ? error.message : String(error))];
  }
}

/** The device's real countdown (sysfs), and whether it fits in the cluster's lease. */
async function watchdogChecks(config: AgentConfig, cluster: ClusterRecord | undefined): Promise<ConfigCheck[]> {
  if (config.watchdog?.kind !== 'device') return [];
  const { path } = config.watchdog;
  if (!existsSync(path))
    return [fail('watchdog', `${path} does not exist; load the softdog module or fix watchdog.path`)];
  try {
    const countdownMs = await new DeviceWatchdog(path, systemClock, {
      expectedTimeoutMs: config.watchdog.timeoutMs,
    }).countdownMs();
    const problem = cluster ? watchdogCountdownProblem(countdownMs, cluster.policy.leaseDurationMs) : undefined;
    if (problem) return [fail('watchdog', `${path}: ${problem}`)];
    return [
      ok(
        'watchdog',
        `${path} counts ${countdownMs} ms${cluster ? `, within the lease of ${cluster.policy.leaseDurationMs} ms` : ''}`,
      ),
    ];
  } catch (error) {
    return [fail('watchdog', error instanceof Error ? error.message : String(error))];
  }
}

function clusterChecks(
  config: AgentConfig,
  cluster: ClusterRecord,
  membership: MembershipRecord | undefined,
): ConfigCheck[] {
  const checks: ConfigCheck[] = [];
  const rejection = heartbeatRejection(membership, config);
  checks.push(
    rejection ? fail('membership', rejection) : ok('membership', `${config.nodeId} is allowed as ${config.address}`),
  );
  const allowedRole = membership?.allowed.find((node) => node.nodeId === config.nodeId)?.role;
  if (allowedRole && allowedRole !== config.role)
    checks.push(
      fail('role', `the cluster allows ${config.nodeId} as a ${allowedRole} node; this config says ${config.role}`),
    );
  const problem = leaseProblem(cluster.policy.leaseDurationMs);
  checks.push(
    problem
      ? fail('lease', `${problem}; lengthen the lease (pgfailover set-policy --lease-ms)`)
      : ok('lease', `lease ${cluster.policy.leaseDurationMs} ms renewed every ${LEASE_RENEW_INTERVAL_MS} ms`),
  );
  if (cluster.policy.fencing === 'watchdog' && config.role === 'database')
    checks.push(
      config.watchdog
        ? ok('fencing', `the cluster fences with a watchdog; this node has one (${config.watchdog.kind})`)
        : fail(
            'fencing',
            'the cluster fences with a watchdog and this config has none: add "watchdog" or this node can never be promoted',
          ),
    );
  return checks;
}

/** Peer leases: the policy and this config agree, the key can be read, and every other voter is listed. */
function peerLeaseChecks(
  config: AgentConfig,
  cluster: ClusterRecord,
  membership: MembershipRecord | undefined,
): ConfigCheck[] {
  const peerLeases = config.peerLeases;
  if (!peerLeases)
    return cluster.policy.peerLeases
      ? [
          fail(
            'peer leases',
            'the cluster has peer leases on and this config has no "peerLeases": this member can neither vouch nor be vouched for (docs/peer-leases.md)',
          ),
        ]
      : [];
  const key = readPeerKey(peerLeases.keyFile);
  if (!key.ok) return [fail('peer leases', key.problem)];
  const unlisted = (membership?.allowed ?? [])
    .map((node) => node.nodeId)
    .filter((nodeId) => nodeId !== config.nodeId && !(nodeId in peerLeases.peers));
  if (unlisted.length > 0)
    return [
      warn(
        'peer leases',
        `${unlisted.join(', ')} ${unlisted.length === 1 ? 'is' : 'are'} not in peerLeases.peers: ${unlisted.length === 1 ? 'it' : 'they'} can neither vouch for this node as primary nor be asked by it`,
      ),
    ];
  return [
    ok(
      'peer leases',
      `key readable; ${Object.keys(peerLeases.peers).length} members listed; ${cluster.policy.peerLeases ? 'on in the policy' : 'off in the policy (set-policy --peer-leases on)'}`,
    ),
  ];
}

async function databaseChecks(
  config: AgentConfig,
  source: string,
  cluster: ClusterRecord | undefined,
): Promise<ConfigCheck[]> {
  const database = config.database;
  if (!database) return [skip('database', 'a witness has no database')];
  let password: string | undefined;
  try {
    password = await resolvePassword(database, source);
  } catch (error) {
    return [fail('database password', error instanceof Error ? error.message : String(error))];
  }
  const result = await probeDatabase({ ...database, password }, config.timeouts.localTimeoutMs);
  if (result.kind !== 'ok' || !result.facts)
    return [
      fail(
        'database',
        `${database.host}:${database.port} as ${database.user}: ${'reason' in result ? result.reason : result.kind}`,
      ),
    ];
  const role = result.facts.inRecovery ? 'standby' : 'primary';
  const checks = [
    ok(
      'database',
      `${database.host}:${database.port} answers as ${database.user}: a ${role}, timeline ${result.facts.timeline ?? '?'}`,
    ),
  ];
  if (cluster) {
    const recordedPrimary = cluster.primaryNodeId === config.nodeId;
    if (recordedPrimary !== (role === 'primary'))
      checks.push(
        fail(
          'database role',
          `the cluster record names ${cluster.primaryNodeId ?? 'no node'} as primary (term ${cluster.term}), but this database is a ${role}`,
        ),
      );
  }
  return checks;
}

export async function runConfigChecks(path: string): Promise<ConfigCheck[]> {
  // A config that does not parse is bad input: loadAgentConfig throws a ConfigError listing every problem.
  const config = loadAgentConfig(path);
  const checks: ConfigCheck[] = [
    ok('config', `${path} is valid (cluster ${config.cluster}, node ${config.nodeId}, ${config.role})`),
  ];
  let cluster: ClusterRecord | undefined;
  try {
    const store = StateStore.connect(config.store);
    cluster = await store.getCluster(config.cluster);
    if (!cluster)
      checks.push(
        fail(
          'cluster',
          `cluster ${config.cluster} is not in table ${config.store.table}; create it with pgfailover init`,
        ),
      );
    else {
      checks.push(
        ok(
          'state table',
          `table ${config.store.table} holds cluster ${config.cluster} (term ${cluster.term}, primary ${cluster.primaryNodeId ?? 'none'})`,
        ),
      );
      const membership = await store.getMembership(config.cluster);
      checks.push(...clusterChecks(config, cluster, membership), ...peerLeaseChecks(config, cluster, membership));
    }
  } catch (error) {
    const explained = explainStoreError(error, {
      table: config.store.table,
      region: config.store.region ?? process.env.AWS_REGION,
      endpoint: config.store.endpoint,
    });
    checks.push(fail('state table', explained?.message ?? (error instanceof Error ? error.message : String(error))));
  }
  checks.push(...(await databaseChecks(config, path, cluster)));
  checks.push(...fileChecks(config));
  checks.push(...layoutChecks(config));
  checks.push(...(await watchdogChecks(config, cluster)));
  return checks;
}
