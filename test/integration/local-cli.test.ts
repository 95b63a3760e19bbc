// `pgfailover local up --json` and `local down` as a user runs them: one JSON object describing what was
// started, and nothing left running afterwards.

import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { listLabNamespaces } from '../../cli/local/lab-network.ts';
import { livePids, localClean, readLocalState } from '../../cli/local/local-cluster.ts';
import { isAlive } from '../../cli/local/processes.ts';
import { runCli } from '../support/cli.ts';

const parent = mkdtempSync(join(tmpdir(), 'pgfailover-cli-test-'));
// mkdtemp makes 0700 directories; the postgres OS user (when we are root) must be able to pass through.
chmodSync(parent, 0o755);
const dir = join(parent, 'cluster');
const crashed = join(parent, 'crashed');

// As root on Linux, local up builds the network lab; elsewhere it falls back to loopback forwarders.
const lab = process.platform === 'linux' && process.getuid?.() === 0;

const upOutput = z.strictObject({
  cluster: z.string(),
  table: z.string(),
  storeEndpoint: lab
    ? z.string().regex(/^unix:\/\/\/.+\/store\.sock$/)
    : z.string().regex(/^http:\/\/127\.0\.0\.1:\d+$/),
  storePid: z.number().int().positive(),
  controllerPid: z.number().int().positive(),
  network: z.literal(lab ? 'lab' : 'loopback'),
  address: lab ? z.literal('198.19.0.10:5432') : z.string().regex(/^127\.0\.0\.1:\d+$/),
  lab: lab ? z.strictObject({ router: z.string(), aws: z.string(), awsIp: z.string(), clients: z.string() }) : z.null(),
  notificationsFile: z.string(),
  nodes: z.array(
    z.strictObject({
      name: z.string(),
      role: z.enum(['primary', 'standby', 'witness']),
      netns: lab ? z.string().regex(/^pgf-/) : z.null(),
      ip: lab ? z.string().regex(/^198\.18\.0\.\d+$/) : z.null(),
      port: z.number().int().positive().nullable(),
      socketDir: z.string().nullable(),
      dataDir: z.string().nullable(),
      postmasterPid: z.number().int().positive().nullable(),
      agentPid: z.number().int().positive(),
      watchdogPid: z.number().int().positive().nullable(),
    }),
  ),
});

const namespaces = async (): Promise<string[]> => (lab ? listLabNamespaces() : []);

afterAll(async () => {
  // Whatever happened above (a test that failed half-way included), stop what up started.
  for (const started of [dir, crashed])
    if (existsSync(join(started, 'local.json')) && livePids(readLocalState(started)).length > 0)
      await localClean(started);
  rmSync(parent, { recursive: true, force: true });
});

describe('local up --json and local down', () => {
  it('starts a primary, one standby and a witness, describes them in JSON, and stops every process, whatever libpq variables the caller has set', async () => {
    // Act: a DBA's shell often carries these for their own psql; the local mode must not use them.
    const libpq = {
      PGPASSWORD: 'not-the-password',
      PGHOST: '/nonexistent',
      PGPORT: '1',
      PGUSER: 'nobody',
      PGDATABASE: 'nope',
      PGSSLMODE: 'require',
      PGPASSFILE: '/nonexistent/pgpass',
    };
    const up = await runCli(['local', 'up', '--dir', dir, '--standbys', '1', '--witness', '--json'], libpq);
    // Assess
    expect(up.code, up.stderr).toBe(0);
    const described = upOutput.parse(JSON.parse(up.stdout));
    expect(described.cluster).toBe('local');
    expect(described.nodes.map((node) => [node.name, node.role])).toEqual([
      ['db1', 'primary'],
      ['db2', 'standby'],
      ['witness', 'witness'],
    ]);
    const pids = [
      described.storePid,
      described.controllerPid,
      ...described.nodes.flatMap((node) => [node.agentPid, node.postmasterPid ?? [], node.watchdogPid ?? []].flat()),
    ];
    // store, controller, and per database node an agent, a postmaster and a watchdog; the witness's agent.
    expect(pids).toHaveLength(9);
    expect(pids.every(isAlive)).toBe(true);
    const made = described.lab
      ? [
          described.lab.router,
          described.lab.aws,
          described.lab.clients,
          ...described.nodes.map((node) => node.netns ?? ''),
        ]
      : [];
    expect((await namespaces()).filter((netns) => made.includes(netns)).sort()).toEqual([...made].sort());
    if (process.getuid?.() === 0) {
      // Root cannot run PostgreSQL: the data directories belong to the postgres OS user.
      expect(statSync(described.nodes[0]!.dataDir!).uid).not.toBe(0);
    }

    // Nothing died on its own in between (a primary fencing itself would show here).
    const named = new Map<number, string>([
      [described.storePid, 'store'],
      [described.controllerPid, 'controller'],
      ...described.nodes.flatMap((node) => [
        [node.agentPid, `${node.name} agent`] as [number, string],
        ...(node.postmasterPid ? [[node.postmasterPid, `${node.name} postgres`] as [number, string]] : []),
      ]),
    ]);
    expect([...named].filter(([pid]) => !isAlive(pid)).map(([, name]) => name)).toEqual([]);

    // Act
    const down = await runCli(['local', 'down', '--dir', dir, '--purge']);
    // Assess
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(
      lab ? /stopped \(9 processes, 6 network namespaces removed\)/ : /stopped \(9 processes\)/,
    );
    expect(pids.filter(isAlive)).toEqual([]);
    expect((await namespaces()).filter((netns) => made.includes(netns))).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('local clean removes what a crashed run left: its processes and its namespaces', async () => {
    // Prepare: a cluster whose every process is killed at once, as if the machine's OOM killer struck.
    const up = await runCli(['local', 'up', '--dir', crashed, '--standbys', '1', '--json']);
    expect(up.code, up.stderr).toBe(0);
    const described = upOutput.parse(JSON.parse(up.stdout));
    for (const pid of [described.storePid, described.controllerPid, ...described.nodes.map((node) => node.agentPid)])
      process.kill(pid, 'SIGKILL');
    // Act
    const clean = await runCli(['local', 'clean', '--dir', crashed]);
    // Assess
    expect(clean.code, clean.stderr).toBe(0);
    expect(livePids(readLocalState(crashed))).toEqual([]);
    const made = described.nodes.map((node) => node.netns).filter((netns): netns is string => netns !== null);
    expect((await namespaces()).filter((netns) => made.includes(netns))).toEqual([]);
    if (lab) expect(clean.stdout).toMatch(/removed 5 network namespaces/);
  });

  it.each([
    [
      ['local', 'up', '--dir', '/tmp/x', '--standbys', 'two'],
      /--standbys must be a whole number of at least 1; got "two"/,
    ],
    [['local', 'status', '--dir', '/nonexistent/pgfailover'], /holds no local cluster.*pgfailover local up --dir/],
    [['allow-node', 'db 1', '--address', 'a'], /node id "db 1": a node id is/],
    // As root, PostgreSQL runs as the postgres OS user, which cannot enter /root.
    ...(process.getuid?.() === 0
      ? [
          [['local', 'up', '--dir', '/root/pgfailover-unreachable'], /postgres OS user cannot reach/] as [
            string[],
            RegExp,
          ],
        ]
      : []),
  ])('refuses bad input %j with a message saying what to do', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(existsSync('/root/pgfailover-unreachable')).toBe(false);
    expect(result.stderr).toMatch(message);
  });
});
