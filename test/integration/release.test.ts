// The release a database host installs: built (npm run build), unpacked into an empty directory, installed
// with its own install.sh, and run from there with nothing of this repository (no node_modules, no tsx)
// against a local cluster with real PostgreSQL: the bundled agent takes over a standby's agent.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { makeHostTree } from '../support/host-trees.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildBundles, buildRelease } from '../../scripts/build.ts';
import { connectLocalStore } from '../../cli/local/local-cluster.ts';
import { stopProcess } from '../../cli/local/processes.ts';
import { stopChild } from '../support/cli.ts';
import { withLocalCluster } from '../support/local-cluster.ts';
import { pollUntil } from '../support/poll.ts';

let tarball = '';
const root = mkdtempSync(join(tmpdir(), 'pgfailover-release-'));

beforeAll(async () => {
  await buildBundles();
  tarball = buildRelease();
  return () => rmSync(root, { recursive: true, force: true });
}, 120_000);

/** Node with an empty environment but PATH: nothing of this repository can leak in. */
const bareEnv = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: root };

describe('the release', () => {
  it('installs into an empty root with its own script: programs, units, no node_modules', () => {
    // Act
    execFileSync('tar', ['-C', root, '-xzf', tarball]);
    const unpacked = join(root, readdirSync(root).find((name) => name.startsWith('pgfailover-')) as string);
    // A Debian host's tree (PostgreSQL's template unit and one cluster), so install.sh finds the unit to gate.
    const debian = makeHostTree('debian');
    cpSync(debian.root, join(root, 'host'), { recursive: true });
    rmSync(debian.root, { recursive: true, force: true });
    execFileSync(join(unpacked, 'install.sh'), ['--root', join(root, 'host')], { env: bareEnv });
    // Assess
    const host = join(root, 'host');
    expect(readdirSync(join(host, 'opt/pgfailover/bin')).sort()).toEqual([
      'pgfailover-agent.mjs',
      'pgfailover-agent.mjs.map',
      'pgfailover.mjs',
      'pgfailover.mjs.map',
    ]);
    expect(execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })).not.toMatch(/node_modules/);
    // The licence, and the licences of what the bundles carry (their own licence comments are dropped).
    expect(readFileSync(join(host, 'opt/pgfailover/LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0/);
    const notices = readFileSync(join(host, 'opt/pgfailover/THIRD_PARTY_NOTICES'), 'utf8');
    for (const bundled of [
      /^pg@\S+ \(MIT\)$/m,
      /^zod@\S+ \(MIT\)$/m,
      /^@aws-sdk\/client-dynamodb@\S+ \(Apache-2\.0\)$/m,
    ])
      expect(notices).toMatch(bundled);
    expect(notices).toMatch(/Permission is hereby granted, free of charge/);
    // Only Node's own modules are imported: every dependency is inside the bundle.
    for (const program of ['pgfailover-agent.mjs', 'pgfailover.mjs']) {
      const text = readFileSync(join(host, 'opt/pgfailover/bin', program), 'utf8');
      const imported = [...text.matchAll(/^import .* from "([^"]+)";?$/gm)].map((match) => match[1]);
      expect(imported.every((name) => name?.startsWith('node:') || !name?.includes('/'))).toBe(true);
      expect(text).not.toMatch(/from "(aws-cdk-lib|dynalite|tsx)/);
      // ASCII only: one other character and V8 holds the whole source two bytes a character (2.7 MB more).
      expect([...text].filter((character) => character.charCodeAt(0) > 0x7f)).toEqual([]);
    }
    const unit = readFileSync(join(host, 'etc/systemd/system/pgfailover-agent.service'), 'utf8');
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(
      /^ExecStart=\/opt\/pgfailover\/bin\/pgfailover-agent\.mjs --config \/etc\/pgfailover\/agent\.json$/m,
    );
    const dropIn = readFileSync(join(host, 'etc/systemd/system/postgresql@15-main.service.d/pgfailover.conf'), 'utf8');
    expect(dropIn).not.toMatch(/^Requires=/m);
    expect(dropIn).toMatch(/^After=pgfailover-agent\.service$/m);
    expect(dropIn).toMatch(
      /^ExecStartPre=\+\/opt\/pgfailover\/bin\/pgfailover-agent\.mjs --config \/etc\/pgfailover\/agent\.json --boot-gate$/m,
    );
    expect(unit).toMatch(/^Environment=MALLOC_ARENA_MAX=2$/m);
    // Run as systemd runs it: the file itself, whose first line gives Node the agent's memory flags.
    const agentBin = join(host, 'opt/pgfailover/bin/pgfailover-agent.mjs');
    expect(readFileSync(agentBin, 'utf8').split('\n')[0]).toBe(
      '#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1',
    );
    expect(execFileSync(agentBin, ['--version'], { env: bareEnv, encoding: 'utf8' }).trim()).toBe(
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,
    );
  });

  it('runs the installed agent against a local cluster with real PostgreSQL, in place of a standby agent', async () => {
    const agentBin = join(root, 'host/opt/pgfailover/bin/pgfailover-agent.mjs');
    const cliBin = join(root, 'host/opt/pgfailover/bin/pgfailover.mjs');
    expect(existsSync(agentBin)).toBe(true);
    await withLocalCluster({ standbys: 1, witness: true, network: 'loopback' }, async (cluster) => {
      // Prepare: stop db2's agent (started from the sources) by its PID.
      const node = cluster.node('db2');
      await stopProcess(node.agentPid as number);
      const store = connectLocalStore(cluster.state);
      const before = (await store.readSnapshot(cluster.state.cluster)).heartbeats.find((b) => b.nodeId === 'db2');
      // Act
      const agent = spawn('node', [agentBin, '--config', node.agentConfig], { env: bareEnv, cwd: root, stdio: 'pipe' });
      let output = '';
      agent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      agent.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        // Assess: a new boot reports db2 a streaming standby through the bundled pg and AWS SDK.
        const beat = await pollUntil(
          `the bundled agent's heartbeat (output so far: ${output.slice(-500)})`,
          async () => {
            const current = (await store.readSnapshot(cluster.state.cluster)).heartbeats.find(
              (b) => b.nodeId === 'db2',
            );
            return current && current.bootId !== before?.bootId && current.dbStatus === 'UP' ? current : undefined;
          },
          30_000,
          200,
        );
        expect(beat).toMatchObject({ agentType: 'standby', agentStatus: 'UP' });
        const status = execFileSync(
          'node',
          [cliBin, 'cluster-status', '--json', '--endpoint', cluster.state.storeEndpoint, '--region', 'local'],
          { env: bareEnv, encoding: 'utf8' },
        );
        expect(JSON.parse(status)).toMatchObject({ healthy: true, recordedPrimary: 'db1' });
      } finally {
        await stopChild(agent);
      }
      expect(output).toMatch(/agent stopped; marked EXITED/);
    });
  });
});
