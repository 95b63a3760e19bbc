// Fake host trees for the four PostgreSQL layouts pgfailover must find (core/postgres-layout.ts): the files
// each packaging installs, under a temporary root, with the data directory owned by an OS user of the
// tree's own /etc/passwd. Used with hostView(root) and install.sh --root.

import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';

export type LayoutName = 'debian' | 'pgdg-rhel' | 'amazon-linux' | 'source';

export interface HostTree {
  root: string;
  dataDirectory: string;
  /** What core/postgres-layout.ts should find. */
  expected: { binDirectory: string; osUser: string; configDirectory: string; unit: string | null };
}

/** The uid of an OS user of this machine, so that a file can be owned by someone other than root. */
function someUid(): number {
  return Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
}

export function makeHostTree(layout: LayoutName): HostTree {
  const root = mkdtempSync(join(tmpdir(), `pgf-host-${layout}-`));
  const file = (path: string, text = '', mode = 0o644) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), mode);
  };
  const program = (dir: string) => {
    for (const name of ['pg_ctl', 'pg_rewind', 'pg_basebackup', 'postgres'])
      file(`${dir}/${name}`, '#!/bin/sh\n', 0o755);
  };
  // What the stand-in units run, so that systemd-analyze verify finds an executable in the tree.
  file('/usr/bin/true', '#!/bin/sh\n', 0o755);
  const uid = someUid();
  // The tree's own user database: the data directory's owner is named there (Amazon Linux and PGDG: postgres).
  const osUser = layout === 'source' ? 'pgsql' : 'postgres';
  file('/etc/passwd', `root:x:0:0:root:/root:/bin/sh\n${osUser}:x:${uid}:${uid}::/var/lib/pgsql:/bin/sh\n`);
  const data = (dir: string, withConf: boolean) => {
    file(`${dir}/PG_VERSION`, '15\n');
    if (withConf) file(`${dir}/postgresql.conf`, '# postgresql.conf\n');
    chownSync(join(root, dir), uid, uid);
    return dir;
  };
  const unit = (dir: string, name: string) =>
    file(`${dir}/${name}`, `[Unit]\nDescription=PostgreSQL\n[Service]\nType=notify\nExecStart=/usr/bin/true\n`);
  switch (layout) {
    case 'debian': {
      program('/usr/lib/postgresql/14/bin');
      program('/usr/lib/postgresql/15/bin');
      program('/usr/lib/postgresql/16/bin');
      file('/usr/share/postgresql-common/pg_wrapper', '', 0o755);
      const dataDirectory = data('/var/lib/postgresql/15/main', false);
      file(
        '/etc/postgresql/15/main/postgresql.conf',
        "data_directory = '/var/lib/postgresql/15/main'\t\t# use data in another directory\n",
      );
      unit('/lib/systemd/system', 'postgresql@.service');
      unit('/lib/systemd/system', 'postgresql.service');
      return {
        root,
        dataDirectory,
        expected: {
          binDirectory: '/usr/lib/postgresql/15/bin',
          osUser,
          configDirectory: '/etc/postgresql/15/main',
          unit: 'postgresql@15-main.service',
        },
      };
    }
    case 'pgdg-rhel': {
      program('/usr/pgsql-15/bin');
      program('/usr/pgsql-16/bin');
      const dataDirectory = data('/var/lib/pgsql/15/data', true);
      unit('/usr/lib/systemd/system', 'postgresql-15.service');
      unit('/usr/lib/systemd/system', 'postgresql-16.service');
      return {
        root,
        dataDirectory,
        expected: {
          binDirectory: '/usr/pgsql-15/bin',
          osUser,
          configDirectory: dataDirectory,
          unit: 'postgresql-15.service',
        },
      };
    }
    case 'amazon-linux': {
      program('/usr/bin');
      const dataDirectory = data('/var/lib/pgsql/data', true);
      unit('/usr/lib/systemd/system', 'postgresql.service');
      return {
        root,
        dataDirectory,
        expected: { binDirectory: '/usr/bin', osUser, configDirectory: dataDirectory, unit: 'postgresql.service' },
      };
    }
    case 'source': {
      program('/usr/local/pgsql/bin');
      const dataDirectory = data('/usr/local/pgsql/data', true);
      return {
        root,
        dataDirectory,
        expected: { binDirectory: '/usr/local/pgsql/bin', osUser, configDirectory: dataDirectory, unit: null },
      };
    }
  }
}
