// `pgfailover import-efm`: an EFM cluster's properties file (and its .nodes file) read into a pgfailover
// agent config and the commands that set up the cluster record. Every property EFM documents is either
// mapped (and says to what) or ignored with the reason; anything else is reported as unknown. Pure: the
// files' texts in, the result out.

import { parseNodeAddress } from './node-address.ts';
import { basename } from 'node:path';
import { DEFAULT_TIMEOUTS, parseAgentConfig, type AgentConfig } from './agent-config.ts';

export interface EfmImport {
  cluster: string;
  nodeId: string;
  /** The agent config for this node, as it would be written (validated by the agent's own schema). */
  agentConfig: Record<string, unknown>;
  /** Shell commands that create the cluster and allow its nodes, in order. */
  commands: string[];
  mapped: { property: string; value: string; to: string }[];
  ignored: { property: string; value: string; why: string }[];
  unknown: { property: string; value: string }[];
  /** What a person must still do (a password, a data directory EFM did not know). */
  todo: string[];
}

/** Java properties: key=value or key:value, # and ! comments, backslash continuations. */
export function parseProperties(text: string): Map<string, string> {
  const result = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    let line = (lines[index] ?? '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    while (line.endsWith('\\') && index + 1 < lines.length) line = line.slice(0, -1) + (lines[++index] ?? '').trim();
    const match = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(line);
    if (match?.[1]) result.set(match[1], (match[2] ?? '').trim());
  }
  return result;
}

const seconds = (value: string) => Math.round(Number(value) * 1000);
const bool = (value: string) => value.trim().toLowerCase() === 'true';

/** EFM properties with no pgfailover counterpart, and why. */
const IGNORED: Record<string, string> = {
  'db.password.encrypted':
    'EFM-encrypted passwords cannot be read here; give the password by database.passwordFile, passwordEnv or passwordSecret',
  'db.reuse.connection.count': 'every check opens its own connection with its own time limit',
  'admin.port': 'there is no agent admin port: the CLI talks to the state table',
  'user.email': 'alert recipients are subscriptions of the SNS topic (CDK config alertEmails)',
  'from.email': 'alerts go out through SNS',
  'notification.level': 'SNS subscription filter policies choose severities per recipient',
  'notification.text.prefix': 'the cluster name heads every notice',
  'script.notification':
    'notices go to SNS (e-mail) and the Slack Lambda; subscribe a Lambda or HTTPS endpoint for anything else',
  'script.resumed': 'no counterpart yet',
  'script.remote.pre.promotion':
    'no counterpart: hooks run on the node concerned (fence, postPromotion on the new primary)',
  'script.remote.post.promotion': 'no counterpart: hooks run on the node concerned',
  'script.custom.monitor': 'no custom monitor: health is the database check and the peers’ checks',
  'custom.monitor.interval': 'no custom monitor',
  'custom.monitor.timeout': 'no custom monitor',
  'custom.monitor.safe.mode': 'no custom monitor',
  'sudo.command': 'the agent runs as root or as the postgres user; no sudo',
  'sudo.user.command': 'the agent runs as root or as the postgres user; no sudo',
  'lock.dir': 'no lock directory: the agent keeps its progress in stateFile',
  'log.dir': 'the agent logs to stdout (journald under systemd)',
  'syslog.host': 'the agent logs to stdout (journald under systemd)',
  'syslog.port': 'the agent logs to stdout (journald under systemd)',
  'syslog.protocol': 'the agent logs to stdout (journald under systemd)',
  'syslog.facility': 'the agent logs to stdout (journald under systemd)',
  'file.log.enabled': 'the agent logs to stdout (journald under systemd)',
  'syslog.enabled': 'the agent logs to stdout (journald under systemd)',
  'jgroups.loglevel': 'there is no JGroups mesh',
  'jvm.options': 'the agent is a Node.js process',
  pingServerIp: 'isolation is judged by the lease in the state table, not by pinging an address',
  pingServerCommand: 'isolation is judged by the lease in the state table, not by pinging an address',
  'auto.allow.hosts': 'membership is explicit: the allow-node commands below',
  'stable.nodes.file': 'membership lives in the state table',
  'auto.reconfigure': 'standbys always follow the new primary (primary_conninfo and reload)',
  'auto.resume.period': 'a failed database is not resumed automatically; pgfailover rejoin brings it back',
  'recovery.check.period': 'the database check reads pg_is_in_recovery() every local.period',
  'minimum.standbys': 'not enforced; cluster-status warns below three members',
  promotable: 'every standby is a candidate; order them with set-priority',
  'application.name': 'application_name is the node id',
  'encrypt.agent.messages': 'agents talk only to DynamoDB, over TLS',
  'enable.stop.cluster': 'agents are stopped one by one with systemctl',
  'release.vip.background': 'the address is moved by the evaluator',
  'release.vip.pre.promotion.delay': 'the address is moved by the evaluator after the promotion',
  'virtualIp.single': 'one cluster address per cluster',
};

const LOG_LEVELS: Record<string, AgentConfig['logLevel']> = {
  FINEST: 'DEBUG',
  FINER: 'DEBUG',
  FINE: 'DEBUG',
  CONFIG: 'INFO',
  INFO: 'INFO',
  WARNING: 'WARN',
  SEVERE: 'ERROR',
};

export function importEfm(
  propertiesPath: string,
  propertiesText: string,
  nodesText: string | undefined,
  nodeIdOverride?: string,
): EfmImport {
  const properties = parseProperties(propertiesText);
  const cluster = basename(propertiesPath).replace(/\.properties$/, '');
  const mapped: EfmImport['mapped'] = [];
  const ignored: EfmImport['ignored'] = [];
  const unknown: EfmImport['unknown'] = [];
  const todo: string[] = [];
  const database: Record<string, unknown> = { host: '127.0.0.1', sslmode: 'prefer' };
  const timeouts: Record<string, number> = {};
  const hooks: Record<string, string> = {};
  const postgres: Record<string, string> = {};
  const config: Record<string, unknown> = {};
  const policy: { autoFailover?: boolean } = {};
  let address: string | undefined;
  const map = (property: string, value: string, to: string, apply: () => void) => {
    apply();
    mapped.push({ property, value, to });
  };

  for (const [property, value] of properties) {
    if (value === '') continue;
    switch (property) {
      case 'db.user':
        map(property, value, 'database.user', () => (database.user = value));
        break;
      case 'db.port':
        map(property, value, 'database.port', () => (database.port = Number(value)));
        break;
      case 'db.database':
        map(property, value, 'database.dbname', () => (database.dbname = value));
        break;
      case 'db.recovery.conf.dir':
      case 'db.recovery.dir':
      case 'db.data.dir':
        map(property, value, 'database.dataDirectory', () => (database.dataDirectory = value));
        break;
      case 'db.bin':
        map(property, value, 'postgres.binDirectory', () => (postgres.binDirectory = value));
        break;
      case 'db.service.owner':
        map(property, value, 'postgres.osUser', () => (postgres.osUser = value));
        break;
      case 'db.service.name':
        // EFM names the service without its suffix (postgresql-15); systemd's unit has it.
        map(
          property,
          value,
          'postgres.unit',
          () => (postgres.unit = value.endsWith('.service') ? value : `${value}.service`),
        );
        break;
      case 'bind.address':
        map(
          property,
          value,
          'address (host; the database port is added)',
          () => (config.address = parseNodeAddress(value).host),
        );
        break;
      case 'is.witness':
        map(property, value, 'role', () => (config.role = bool(value) ? 'witness' : 'database'));
        break;
      case 'local.period':
        map(property, value, 'timeouts.localPeriodMs', () => (timeouts.localPeriodMs = seconds(value)));
        break;
      case 'local.timeout':
        map(property, value, 'timeouts.localTimeoutMs', () => (timeouts.localTimeoutMs = seconds(value)));
        break;
      case 'local.timeout.final':
        map(property, value, 'timeouts.localTimeoutFinalMs', () => (timeouts.localTimeoutFinalMs = seconds(value)));
        break;
      case 'remote.timeout':
        map(property, value, 'timeouts.remoteTimeoutMs', () => (timeouts.remoteTimeoutMs = seconds(value)));
        break;
      case 'node.timeout':
        map(property, value, 'timeouts.nodeTimeoutMs', () => (timeouts.nodeTimeoutMs = seconds(value)));
        break;
      case 'stop.isolated.master':
      case 'stop.isolated.primary':
        map(property, value, 'stopIsolatedPrimary', () => (config.stopIsolatedPrimary = bool(value)));
        break;
      case 'check.vip.before.promotion':
        map(property, value, 'checkAddressBeforePromotion', () => (config.checkAddressBeforePromotion = bool(value)));
        break;
      case 'auto.failover':
        map(
          property,
          value,
          'cluster policy autoFailover (init/set-policy)',
          () => (policy.autoFailover = bool(value)),
        );
        break;
      case 'virtualIp':
        map(property, value, 'cluster address, mode secondary-ip (init --address)', () => (address = value));
        break;
      case 'virtualIp.interface':
        map(property, value, 'aws.secondaryIpDevice', () => {
          config.aws = { ...(config.aws as object), secondaryIpDevice: value };
        });
        break;
      case 'virtualIp.prefix':
        map(property, value, 'aws.secondaryIpPrefixLength', () => {
          config.aws = { ...(config.aws as object), secondaryIpPrefixLength: Number(value) };
        });
        break;
      case 'script.fence':
        map(property, value, 'hooks.fence', () => (hooks.fence = value));
        break;
      case 'script.post.promotion':
        map(property, value, 'hooks.postPromotion', () => (hooks.postPromotion = value));
        break;
      case 'script.db.failure':
        map(property, value, 'hooks.dbFailure', () => (hooks.dbFailure = value));
        break;
      case 'script.master.isolated':
      case 'script.primary.isolated':
        map(property, value, 'hooks.primaryIsolated', () => (hooks.primaryIsolated = value));
        break;
      case 'script.load.balancer.attach':
        map(property, value, 'hooks.loadBalancerAttach', () => (hooks.loadBalancerAttach = value));
        break;
      case 'script.load.balancer.detach':
        map(property, value, 'hooks.loadBalancerDetach', () => (hooks.loadBalancerDetach = value));
        break;
      case 'efm.loglevel': {
        const level = LOG_LEVELS[value.toUpperCase()];
        if (level) map(property, value, `logLevel ${level}`, () => (config.logLevel = level));
        else
          ignored.push({ property, value, why: `not a level EFM documents (${Object.keys(LOG_LEVELS).join(', ')})` });
        break;
      }
      default:
        if (property in IGNORED) ignored.push({ property, value, why: IGNORED[property] ?? '' });
        else unknown.push({ property, value });
    }
  }

  const port = Number(database.port ?? 5432);
  const host = typeof config.address === 'string' ? config.address : undefined;
  if (!host) todo.push('bind.address is missing: set "address" (this node\'s private IP and database port)');
  const nodeId = nodeIdOverride ?? (host ? `node-${host.replaceAll('.', '-')}` : 'node-1');
  const witness = config.role === 'witness';
  if (!witness && !database.dataDirectory)
    todo.push('set database.dataDirectory (EFM did not need it: db.recovery.conf.dir was not given)');
  if (!witness)
    todo.push('give the monitoring password: database.passwordFile (mode 0600), passwordEnv or passwordSecret');
  todo.push('set store.region (or AWS_REGION) and store.table to the deployed state table');
  // What EFM's longer timeouts cost here: a dead primary node is confirmed only once its peers' checks
  // time out (remote), and a silent agent's last report counts until its node timeout.
  const slow = [
    (timeouts.remoteTimeoutMs ?? 0) > DEFAULT_TIMEOUTS.remoteTimeoutMs
      ? `remote.timeout ${timeouts.remoteTimeoutMs} ms: peers take that long to call a dead primary node DOWN, so its failover waits at least as long (default ${DEFAULT_TIMEOUTS.remoteTimeoutMs} ms)`
      : '',
    (timeouts.nodeTimeoutMs ?? 0) > DEFAULT_TIMEOUTS.nodeTimeoutMs
      ? `node.timeout ${timeouts.nodeTimeoutMs} ms: a silent agent's last report (its vote, its candidacy) counts that long (default ${DEFAULT_TIMEOUTS.nodeTimeoutMs} ms)`
      : '',
  ].filter(Boolean);
  if (slow.length > 0) todo.push(`EFM's timeouts were kept: ${slow.join('; ')}. Remove "timeouts" to use the defaults`);
  const agentConfig: Record<string, unknown> = {
    cluster,
    nodeId,
    role: witness ? 'witness' : 'database',
    address: host ? `${host}:${port}` : 'SET-ME:5432',
    store: { table: 'pgfailover' },
    ...(witness
      ? {}
      : {
          database: {
            dbname: 'postgres',
            user: 'pgfailover',
            ...database,
            ...(database.dataDirectory ? {} : { dataDirectory: '/var/lib/postgresql/15/main' }),
          },
        }),
    ...(Object.keys(hooks).length ? { hooks } : {}),
    ...(Object.keys(postgres).length && !witness ? { postgres } : {}),
    ...(Object.keys(timeouts).length ? { timeouts } : {}),
    ...Object.fromEntries(Object.entries(config).filter(([key]) => !['address', 'role'].includes(key))),
  };
  // The agent's own schema judges the result: a mapped value it refuses is reported, never written silently.
  parseAgentConfig(agentConfig, `the config imported from ${propertiesPath}`);

  const nodes = (nodesText ?? '')
    .split(/\s+/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'))
    .map((entry) => parseNodeAddress(entry).host);
  const allHosts = [...new Set([...(host ? [host] : []), ...nodes])];
  const commands = [
    `pgfailover init --cluster ${cluster}${policy.autoFailover === false ? ' --no-auto-failover' : ''}${address ? ` --address-mode secondary-ip --address ${address}` : ''}`,
    ...allHosts.map(
      (nodeHost) =>
        `pgfailover allow-node --cluster ${cluster} node-${nodeHost.replaceAll('.', '-')} --address ${nodeHost}:${port}${nodeHost === host && witness ? ' --witness' : ''}`,
    ),
  ];
  if (nodes.length > 0)
    todo.push('each node in the .nodes file gets its own agent config: run import-efm on its host with its properties');
  return { cluster, nodeId, agentConfig, commands, mapped, ignored, unknown, todo };
}
