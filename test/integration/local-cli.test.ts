// `pgfailover local up --json` and `local down` as a user runs them: one JSON object describing what was
// started, and nothing left running afterwards.

import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { livePids, localDown, readLocalState } from '../../cli/local/local-cluster.ts';
import { isAlive } from '../../cli/local/processes.ts';
import { runCli } from '../support/cli.ts';

const parent = mkdtempSync(join(tmpdir(), 'pgfailover-cli-test-'));
// mkdtemp makes 0700 directories; the postgres OS user (when we are root) must be able to pass through.
chmodSync(parent, 0o755);
const dir = join(parent, 'cluster');

const upOutput = z.strictObject({
  cluster: z.string(),
  table: z.string(),
  storeEndpoint: z.string().regex(/^http:\/\/127\.0\.0\.1:\d+$/),
  storePid: z.number().int().positive(),
  controllerPid: z.number().int().positive(),
  address: z.string().regex(/^127\.0\.0\.1:\d+$/),
  notificationsFile: z.string(),
  nodes: z.array(
    z.strictObject({
      name: z.string(),
      role: z.enum(['primary', 'standby', 'witness']),
      port: z.number().int().positive().nullable(),
      dataDir: z.string().nullable(),
      postmasterPid: z.number().int().positive().nullable(),
      agentPid: z.number().int().positive(),
    }),
  ),
});

afterAll(async () => {
  // Whatever happened above, stop what up started.
  if (existsSync(join(dir, 'local.json')) && livePids(readLocalState(dir)).length > 0) await localDown(dir);
  rmSync(parent, { recursive: true, force: true });
});

describe('local up --json and local down', () => {
  it('starts a primary, one standby and a witness, describes them in JSON, and stops every process', async () => {
    // Act
    const up = await runCli(['local', 'up', '--dir', dir, '--standbys', '1', '--witness', '--json']);
    // Assess
    expect(up.code, up.stderr).toBe(0);
    const described = upOutput.parse(JSON.parse(up.stdout));
    expect(described.cluster).toBe('local');
    expect(described.nodes.map((node) => [node.name, node.role])).toEqual([
      ['db1', 'primary'],
      ['db2', 'standby'],
      ['witness', 'witness'],
    ]);
    const pids = [described.storePid, described.controllerPid, ...described.nodes.flatMap((node) => [node.agentPid, node.postmasterPid ?? []].flat())];
    expect(pids).toHaveLength(7);
    expect(pids.every(isAlive)).toBe(true);
    if (process.getuid?.() === 0) {
      // Root cannot run PostgreSQL: the data directories belong to the postgres OS user.
      expect(statSync(described.nodes[0]!.dataDir!).uid).not.toBe(0);
    }

    // Nothing died on its own in between (a primary fencing itself would show here).
    const named = new Map<number, string>([[described.storePid, 'store'], [described.controllerPid, 'controller'], ...described.nodes.flatMap((node) => [[node.agentPid, `${node.name} agent`] as [number, string], ...(node.postmasterPid ? [[node.postmasterPid, `${node.name} postgres`] as [number, string]] : [])])]);
    expect([...named].filter(([pid]) => !isAlive(pid)).map(([, name]) => name)).toEqual([]);

    // Act
    const down = await runCli(['local', 'down', '--dir', dir, '--purge']);
    // Assess
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/stopped \(7 processes\)/);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it.each([
    [['local', 'up', '--dir', '/tmp/x', '--standbys', 'two'], /--standbys must be a whole number of at least 1; got "two"/],
    [['local', 'status', '--dir', '/nonexistent/pgfailover'], /holds no local cluster.*pgfailover local up --dir/],
    [['allow-node', 'db 1', '--address', 'a'], /node id "db 1": a node id is/],
    // As root, PostgreSQL runs as the postgres OS user, which cannot enter /root.
    ...(process.getuid?.() === 0 ? [[['local', 'up', '--dir', '/root/pgfailover-unreachable'], /postgres OS user cannot reach/] as [string[], RegExp]] : []),
  ])('refuses bad input %j with a message saying what to do', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).not.toBe(0);
    expect(existsSync('/root/pgfailover-unreachable')).toBe(false);
    expect(result.stderr).toMatch(message);
  });
});
