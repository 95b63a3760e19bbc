// Finding this host's PostgreSQL (core/postgres-layout.ts) in fake trees of every common packaging, through
// the real file adapter (agent/host-view.ts): programs, OS user, configuration directory, unit.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostView } from '../../agent/host-view.ts';
import { describeLayout, LayoutError, resolvePostgresLayout } from '../../core/postgres-layout.ts';
import { makeHostTree, type HostTree, type LayoutName } from '../support/host-trees.ts';

const trees: HostTree[] = [];
const tree = (layout: LayoutName) => {
  const made = makeHostTree(layout);
  trees.push(made);
  return made;
};
afterEach(() => {
  for (const made of trees.splice(0)) rmSync(made.root, { recursive: true, force: true });
});

const values = (layout: ReturnType<typeof resolvePostgresLayout>) => ({
  binDirectory: layout.binDirectory.value,
  osUser: layout.osUser.value,
  configDirectory: layout.configDirectory.value,
  unit: layout.unit.value,
});

describe('the PostgreSQL layout of a host', () => {
  it.each<LayoutName>(['debian', 'pgdg-rhel', 'amazon-linux', 'source'])(
    '%s: found with nothing in the config',
    (name) => {
      // Prepare
      const host = tree(name);
      // Act
      const layout = resolvePostgresLayout({}, host.dataDirectory, hostView(host.root));
      // Assess: each part as that packaging installs it, and each says how it was found.
      expect(values(layout)).toEqual(host.expected);
      expect(describeLayout(layout).join('\n')).toMatch(
        name === 'source' ? /no PostgreSQL unit found/ : /a unit file is installed/,
      );
    },
  );

  it("picks the programs of the data directory's version, not the newest installed", () => {
    // Prepare: Debian with 14, 15 and 16 installed; the data directory is a 15 one.
    const host = tree('debian');
    // Act
    const layout = resolvePostgresLayout({}, host.dataDirectory, hostView(host.root));
    // Assess
    expect(layout.binDirectory).toEqual({
      value: '/usr/lib/postgresql/15/bin',
      how: 'Debian/Ubuntu packages, the version of the data directory (15)',
    });
  });

  it('takes every part the config gives, and postgres.unit false means pg_ctl', () => {
    // Prepare
    const host = tree('pgdg-rhel');
    // Act
    const layout = resolvePostgresLayout(
      { binDirectory: '/opt/pg/bin', osUser: 'dba', configDirectory: '/etc/pg', unit: false },
      host.dataDirectory,
      hostView(host.root),
    );
    // Assess
    expect(values(layout)).toEqual({
      binDirectory: '/opt/pg/bin',
      osUser: 'dba',
      configDirectory: '/etc/pg',
      unit: null,
    });
    expect(layout.unit.how).toMatch(/postgres.unit false/);
  });

  it("never gates Debian's umbrella postgresql.service, and says which key to set when something is missing", () => {
    // Prepare: a Debian tree whose cluster configuration names another data directory.
    const host = tree('debian');
    writeFileSync(join(host.root, 'etc/postgresql/15/main/postgresql.conf'), "data_directory = '/srv/other'\n");
    // Act & Assess
    expect(() => resolvePostgresLayout({}, host.dataDirectory, hostView(host.root))).toThrow(
      /no postgresql.conf in \/var\/lib\/postgresql\/15\/main .*set postgres.configDirectory/,
    );
    const layout = resolvePostgresLayout({ configDirectory: '/srv/conf' }, host.dataDirectory, hostView(host.root));
    expect(layout.unit.value).toBeNull();
    // No programs for the data directory's version: the error names postgres.binDirectory.
    const empty = tree('source');
    rmSync(join(empty.root, 'usr/local/pgsql/bin'), { recursive: true });
    mkdirSync(join(empty.root, 'usr/local/pgsql/bin'));
    expect(() => resolvePostgresLayout({}, empty.dataDirectory, hostView(empty.root))).toThrow(LayoutError);
    expect(() => resolvePostgresLayout({}, empty.dataDirectory, hostView(empty.root))).toThrow(
      /no PostgreSQL 15 programs .*set postgres.binDirectory/,
    );
  });

  it('uses the PGFAILOVER_PG_BIN variable before searching', () => {
    const host = tree('amazon-linux');
    const layout = resolvePostgresLayout({}, host.dataDirectory, hostView(host.root), { PGFAILOVER_PG_BIN: '/x/bin' });
    expect(layout.binDirectory).toEqual({ value: '/x/bin', how: 'the PGFAILOVER_PG_BIN environment variable' });
  });
});
