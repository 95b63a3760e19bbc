// The release's install.sh and uninstall.sh on fake hosts of every common PostgreSQL packaging, with a
// stand-in systemctl that records what it is asked: the drop-in goes to the unit that runs PostgreSQL
// there, the units pass systemd-analyze verify, no stop or restart of the agent reaches PostgreSQL by
// systemd's documented dependency logic, and neither script ever asks systemd to stop, start or restart
// PostgreSQL. Upgrading over an older release's drop-in (Requires=) replaces it before the agent restarts.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBundles, buildRelease } from '../../scripts/build.ts';
import { makeHostTree, type HostTree, type LayoutName } from '../support/host-trees.ts';
import { loadUnit, stopReaches, unitValue } from '../support/systemd-units.ts';

const work = mkdtempSync(join(tmpdir(), 'pgfailover-install-'));
let release = '';
const trees: HostTree[] = [];
beforeAll(async () => {
  await buildBundles();
  const tarball = buildRelease();
  execFileSync('tar', ['-C', work, '-xzf', tarball]);
  release = join(work, readdirSync(work).find((name) => name.startsWith('pgfailover-')) as string);
  // The stand-in systemctl: every call is a line in the log beside it.
  mkdirSync(join(work, 'stand-in'));
  writeFileSync(join(work, 'stand-in/systemctl'), `#!/bin/sh\necho "$*" >> ${join(work, 'systemctl.log')}\n`, {
    mode: 0o755,
  });
}, 180_000);
afterEach(() => {
  for (const tree of trees.splice(0)) rmSync(tree.root, { recursive: true, force: true });
  rmSync(join(work, 'systemctl.log'), { force: true });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A host tree where systemd "runs" (/run/systemd/system), so the scripts talk to the stand-in systemctl. */
function host(layout: LayoutName): HostTree {
  const tree = makeHostTree(layout);
  trees.push(tree);
  mkdirSync(join(tree.root, 'run/systemd/system'), { recursive: true });
  return tree;
}

function run(script: string, args: string[]) {
  const result = spawnSync(script, args, {
    env: { PATH: `${join(work, 'stand-in')}:/usr/local/bin:/usr/bin:/bin` },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const systemctlCalls = () =>
  existsSync(join(work, 'systemctl.log')) ? readFileSync(join(work, 'systemctl.log'), 'utf8').trim().split('\n') : [];

/** systemd-analyze verify of the units in the tree (the targets they name come from this machine). */
function verify(tree: HostTree, units: string[]) {
  const targets = join(tree.root, 'usr/lib/systemd/system');
  mkdirSync(targets, { recursive: true });
  for (const entry of readdirSync('/lib/systemd/system').filter((name) => /\.(target|slice)$/.test(name)))
    cpSync(join('/lib/systemd/system', entry), join(targets, entry), { dereference: true });
  return spawnSync('systemd-analyze', ['verify', `--root=${tree.root}`, ...units], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('install.sh and uninstall.sh on every common layout', () => {
  it.each<[LayoutName, string[]]>([
    ['debian', []],
    ['pgdg-rhel', ['--postgres-unit', 'postgresql-15.service']],
    ['amazon-linux', []],
  ])("%s: the drop-in gates PostgreSQL's own unit; the agent's stop or restart never reaches it", (layout, args) => {
    // Prepare
    const tree = host(layout);
    const unit = tree.expected.unit as string;
    // Act
    const installed = run(join(release, 'install.sh'), ['--root', tree.root, ...args]);
    // Assess
    expect(installed, installed.stderr).toMatchObject({ code: 0 });
    expect(installed.stdout).toContain(`PostgreSQL's unit ${unit} passes the boot gate`);
    expect(existsSync(join(tree.root, `etc/systemd/system/${unit}.d/pgfailover.conf`))).toBe(true);
    const verified = verify(tree, [unit, 'pgfailover-agent.service']);
    expect(verified.stderr).toBe('');
    expect(verified.status).toBe(0);
    const units = { agent: loadUnit(tree.root, 'pgfailover-agent.service'), pg: loadUnit(tree.root, unit) };
    const named = { [unit]: units.pg, 'pgfailover-agent.service': units.agent };
    expect(stopReaches(named, 'pgfailover-agent.service', unit)).toBeUndefined();
    expect(unitValue(units.agent, 'Service', 'KillMode')).toEqual(['process']);
    expect(unitValue(units.pg, 'Service', 'ExecStartPre')).toContain('+/opt/pgfailover/bin/pgfailover-agent.mjs');
    expect(unitValue(units.pg, 'Unit', 'After')).toContain('pgfailover-agent.service');
    // Reload, enable, and restart the agent if it runs (an upgrade); PostgreSQL is never named.
    expect(systemctlCalls()).toEqual([
      'daemon-reload',
      'enable pgfailover-agent.service',
      'try-restart pgfailover-agent.service',
    ]);
  });

  it('the dependency logic catches the old drop-in: Requires= took PostgreSQL down with the agent', () => {
    // Prepare: the previous release's drop-in on a Debian host.
    const tree = host('debian');
    const dropIn = join(tree.root, 'etc/systemd/system/postgresql@15-main.service.d/pgfailover.conf');
    mkdirSync(join(dropIn, '..'), { recursive: true });
    writeFileSync(dropIn, '[Unit]\nRequires=pgfailover-agent.service\nAfter=pgfailover-agent.service\n');
    writeFileSync(join(tree.root, 'etc/systemd/system/pgfailover-agent.service'), '[Unit]\nDescription=old\n');
    const before = {
      'postgresql@15-main.service': loadUnit(tree.root, 'postgresql@15-main.service'),
      'pgfailover-agent.service': loadUnit(tree.root, 'pgfailover-agent.service'),
    };
    expect(stopReaches(before, 'pgfailover-agent.service', 'postgresql@15-main.service')).toMatch(/Requires=/);
    // Act: the upgrade.
    const upgraded = run(join(release, 'install.sh'), ['--root', tree.root]);
    // Assess: the new drop-in is in force (daemon-reload) before the running agent restarts.
    expect(upgraded.code).toBe(0);
    expect(readFileSync(dropIn, 'utf8')).not.toMatch(/^Requires=/m);
    const calls = systemctlCalls();
    expect(calls.indexOf('daemon-reload')).toBeLessThan(calls.indexOf('try-restart pgfailover-agent.service'));
  });

  it('refuses to guess: a unit that does not exist, several candidates, or none found', () => {
    // Prepare
    const pgdg = host('pgdg-rhel');
    const source = host('source');
    // Act & Assess: the default unit of another packaging.
    const wrong = run(join(release, 'install.sh'), [
      '--root',
      pgdg.root,
      '--postgres-unit',
      'postgresql@15-main.service',
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(
      /no unit file for postgresql@15-main.service .*PGDG on RHEL, Rocky, Amazon Linux: postgresql-15.service/,
    );
    // Two PGDG versions installed.
    const several = run(join(release, 'install.sh'), ['--root', pgdg.root]);
    expect(several.code).toBe(2);
    expect(several.stderr).toMatch(
      /several PostgreSQL units here \(postgresql-15.service postgresql-16.service\): pass --postgres-unit/,
    );
    // A source build: no unit, and the fence would silently be missing; --no-postgres-unit says so on purpose.
    const none = run(join(release, 'install.sh'), ['--root', source.root]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no PostgreSQL unit found: the boot-time fence is NOT installed/);
    const noUnit = run(join(release, 'install.sh'), ['--root', source.root, '--no-postgres-unit']);
    expect(noUnit.code).toBe(0);
    expect(readdirSync(join(source.root, 'etc/systemd/system')).filter((entry) => entry.endsWith('.d'))).toEqual([]);
    // Nothing was installed by the refused runs.
    expect(existsSync(join(pgdg.root, 'opt/pgfailover'))).toBe(false);
  });

  it('sets softdog up with the countdown asked for', () => {
    const tree = host('amazon-linux');
    expect(run(join(release, 'install.sh'), ['--root', tree.root, '--softdog', '2']).code).toBe(0);
    expect(readFileSync(join(tree.root, 'etc/modprobe.d/pgfailover-softdog.conf'), 'utf8')).toBe(
      'options softdog soft_margin=2\n',
    );
    expect(readFileSync(join(tree.root, 'etc/modules-load.d/pgfailover-softdog.conf'), 'utf8')).toBe('softdog\n');
    expect(run(join(release, 'install.sh'), ['--root', tree.root, '--softdog', '60s']).code).toBe(2);
  });

  it('uninstall.sh removes the drop-in before it stops the agent, keeps the config unless --purge, never names PostgreSQL', () => {
    // Prepare
    const tree = host('debian');
    expect(run(join(release, 'install.sh'), ['--root', tree.root]).code).toBe(0);
    writeFileSync(join(tree.root, 'etc/pgfailover/agent.json'), '{}');
    rmSync(join(work, 'systemctl.log'));
    // Act
    const removed = run(join(tree.root, 'opt/pgfailover/uninstall.sh'), ['--root', tree.root]);
    // Assess
    expect(removed, removed.stderr).toMatchObject({ code: 0 });
    expect(removed.stdout).toMatch(/\/etc\/pgfailover kept .*PostgreSQL was not touched/);
    expect(systemctlCalls()).toEqual(['daemon-reload', 'disable --now pgfailover-agent.service', 'daemon-reload']);
    expect(existsSync(join(tree.root, 'etc/systemd/system/postgresql@15-main.service.d'))).toBe(false);
    expect(existsSync(join(tree.root, 'etc/systemd/system/pgfailover-agent.service'))).toBe(false);
    expect(existsSync(join(tree.root, 'opt/pgfailover'))).toBe(false);
    expect(existsSync(join(tree.root, 'usr/local/bin/pgfailover'))).toBe(false);
    expect(existsSync(join(tree.root, 'etc/pgfailover/agent.json'))).toBe(true);
    // PostgreSQL's own unit file is untouched.
    expect(existsSync(join(tree.root, 'lib/systemd/system/postgresql@.service'))).toBe(true);
    // Act: --purge (run from the release directory, as the installed copy is gone).
    expect(run(join(release, 'uninstall.sh'), ['--root', tree.root, '--purge']).code).toBe(0);
    expect(existsSync(join(tree.root, 'etc/pgfailover'))).toBe(false);
  });
});
