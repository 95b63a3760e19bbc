// Where this host's PostgreSQL lives: its programs, the OS user that owns the server, the directory that
// holds postgresql.conf, and the systemd unit that runs it. Packagers disagree on all four:
// - Debian and Ubuntu (postgresql-common): /usr/lib/postgresql/15/bin, configuration in
//   /etc/postgresql/15/main, data in /var/lib/postgresql/15/main, unit postgresql@15-main.service
//   (postgresql.service there only starts and stops all clusters at once).
// - PGDG on RHEL, Rocky and Amazon Linux 2023: /usr/pgsql-15/bin, configuration in the data directory
//   /var/lib/pgsql/15/data, unit postgresql-15.service.
// - Amazon Linux 2023's own postgresql15-server (and Fedora's): /usr/bin, /var/lib/pgsql/data,
//   postgresql.service.
// - Built from source: /usr/local/pgsql/bin, no unit unless the DBA wrote one.
// The config says what it knows; the rest is found here, from what the host shows (HostView), each answer
// with how it was found, for check-config and the agent's start log. Pure: the view is injected.

export interface HostView {
  exists(path: string): boolean;
  /** Entries of a directory, [] when it is absent. */
  list(path: string): string[];
  readText(path: string): string | undefined;
  /** The OS user that owns `path`, or undefined. */
  ownerName(path: string): string | undefined;
}

export interface PostgresLayoutConfig {
  binDirectory?: string | undefined;
  osUser?: string | undefined;
  configDirectory?: string | undefined;
  /** A unit name, or false for none (the agent starts the server with pg_ctl). */
  unit?: string | false | undefined;
}

export interface Found<T> {
  value: T;
  /** How it was found: "config", or what on the host gave it away. */
  how: string;
}

export interface PostgresLayout {
  binDirectory: Found<string>;
  osUser: Found<string>;
  /** Where postgresql.conf is: the data directory unless the packaging keeps it elsewhere. */
  configDirectory: Found<string>;
  /** null: no unit runs this server; the agent starts it with pg_ctl. */
  unit: Found<string | null>;
}

/** Something that cannot be found: what is wrong and which key fixes it. */
export class LayoutError extends Error {
  override name = 'LayoutError';
}

export const UNIT_DIRECTORIES = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** The major version of the server whose data directory this is (PG_VERSION), if it says. */
function majorOf(host: HostView, dataDirectory: string | undefined): string | undefined {
  const text = dataDirectory ? host.readText(`${dataDirectory}/PG_VERSION`) : undefined;
  return text?.trim() || undefined;
}

const byNewest = (a: string, b: string) => Number(b) - Number(a);

/** PostgreSQL's programs: of version `major` when given, else the newest; throws LayoutError naming the key to set. */
export function findBinDirectory(
  host: HostView,
  major: string | undefined,
  env: Record<string, string | undefined>,
): Found<string> {
  if (env.PGFAILOVER_PG_BIN) return { value: env.PGFAILOVER_PG_BIN, how: 'the PGFAILOVER_PG_BIN environment variable' };
  const versions = (names: string[]) => names.filter((name) => /^\d+$/.test(name)).sort(byNewest);
  const candidates = [
    ...versions(host.list('/usr/lib/postgresql')).map((version) => ({
      version,
      dir: `/usr/lib/postgresql/${version}/bin`,
      how: 'Debian/Ubuntu packages',
    })),
    ...versions(host.list('/usr').flatMap((name) => /^pgsql-(\d+)$/.exec(name)?.[1] ?? [])).map((version) => ({
      version,
      dir: `/usr/pgsql-${version}/bin`,
      how: 'PGDG packages',
    })),
  ].filter(({ dir }) => host.exists(`${dir}/pg_ctl`));
  const chosen = major ? candidates.find(({ version }) => version === major) : candidates[0];
  if (chosen)
    return {
      value: chosen.dir,
      how: `${chosen.how}${major ? `, the version of the data directory (${major})` : ', the newest installed'}`,
    };
  for (const [dir, how] of [
    ['/usr/bin', 'distribution packages (Amazon Linux 2023, Fedora)'],
    ['/usr/local/pgsql/bin', 'a build from source (the default prefix)'],
  ] as const) {
    if (host.exists(`${dir}/pg_ctl`)) return { value: dir, how };
  }
  throw new LayoutError(
    `no PostgreSQL ${major ? `${major} ` : ''}programs (pg_ctl) found under /usr/lib/postgresql/N/bin, /usr/pgsql-N/bin, /usr/bin or /usr/local/pgsql/bin: set postgres.binDirectory in the agent config`,
  );
}

function findConfigDirectory(
  host: HostView,
  dataDirectory: string | undefined,
  major: string | undefined,
): Found<string> {
  if (!dataDirectory) throw new LayoutError('database.dataDirectory is not set: the agent cannot find the server');
  if (host.exists(`${dataDirectory}/postgresql.conf`))
    return { value: dataDirectory, how: 'postgresql.conf is in the data directory' };
  // postgresql-common names a cluster by version and name; its data directory is usually /var/lib/postgresql/V/NAME.
  const name = /\/([^/]+)\/?$/.exec(dataDirectory)?.[1];
  const versions = major ? [major] : host.list('/etc/postgresql');
  for (const version of versions) {
    const dir = `/etc/postgresql/${version}/${name ?? ''}`;
    const conf = host.readText(`${dir}/postgresql.conf`);
    if (conf !== undefined && dataDirectoryOf(conf) === dataDirectory.replace(/\/$/, ''))
      return { value: dir, how: `Debian/Ubuntu (postgresql-common): ${dir}/postgresql.conf names this data directory` };
  }
  throw new LayoutError(
    `no postgresql.conf in ${dataDirectory} nor an /etc/postgresql/V/NAME/postgresql.conf whose data_directory is it: set postgres.configDirectory in the agent config`,
  );
}

/** data_directory = '...' in a postgresql.conf, if set. */
function dataDirectoryOf(conf: string): string | undefined {
  const match = /^\s*data_directory\s*=\s*'([^']*)'/m.exec(conf);
  return match?.[1]?.replace(/\/$/, '');
}

function unitExists(host: HostView, unit: string): boolean {
  // postgresql@15-main.service is an instance of the template postgresql@.service.
  const file = unit.replace(/@[^.]+\./, '@.');
  return UNIT_DIRECTORIES.some((dir) => host.exists(`${dir}/${unit}`) || host.exists(`${dir}/${file}`));
}

function findUnit(host: HostView, configDirectory: string, major: string | undefined): Found<string | null> {
  const debian = /^\/etc\/postgresql\/(\d+)\/([^/]+)$/.exec(configDirectory);
  const candidates: [string, string][] = [
    ...(debian
      ? ([[`postgresql@${debian[1]}-${debian[2]}.service`, "Debian/Ubuntu: the cluster's own instance"]] as [
          string,
          string,
        ][])
      : []),
    ...(major ? ([[`postgresql-${major}.service`, 'PGDG packages']] as [string, string][]) : []),
    // Debian's postgresql.service only starts the clusters' instances: never the unit to wait in.
    ...(debian || host.exists('/usr/share/postgresql-common')
      ? []
      : ([['postgresql.service', 'distribution packages']] as [string, string][])),
  ];
  const found = candidates.find(([unit]) => unitExists(host, unit));
  if (found) return { value: found[0], how: `${found[1]} (a unit file is installed)` };
  return {
    value: null,
    how: 'no PostgreSQL unit found: the agent starts the server with pg_ctl (set postgres.unit if a unit runs it)',
  };
}

/** The layout of this host's PostgreSQL; throws LayoutError naming the key to set when a part cannot be found. */
export function resolvePostgresLayout(
  config: PostgresLayoutConfig,
  dataDirectory: string | undefined,
  host: HostView,
  env: Record<string, string | undefined> = {},
): PostgresLayout {
  const major = majorOf(host, dataDirectory);
  const binDirectory = config.binDirectory
    ? { value: config.binDirectory, how: 'config' }
    : findBinDirectory(host, major, env);
  const owner = dataDirectory ? host.ownerName(dataDirectory) : undefined;
  const osUser = config.osUser
    ? { value: config.osUser, how: 'config' }
    : owner && owner !== 'root'
      ? { value: owner, how: 'the owner of the data directory' }
      : { value: 'postgres', how: 'the default' };
  const configDirectory = config.configDirectory
    ? { value: config.configDirectory, how: 'config' }
    : findConfigDirectory(host, dataDirectory, major);
  const unit =
    config.unit === false
      ? { value: null, how: 'config (postgres.unit false: started with pg_ctl)' }
      : config.unit
        ? { value: config.unit, how: 'config' }
        : findUnit(host, configDirectory.value, major);
  return { binDirectory, osUser, configDirectory, unit };
}

/** One line per part, for check-config and the agent's start log. */
export function describeLayout(layout: PostgresLayout): string[] {
  return [
    `programs in ${layout.binDirectory.value} (${layout.binDirectory.how})`,
    `OS user ${layout.osUser.value} (${layout.osUser.how})`,
    `postgresql.conf in ${layout.configDirectory.value} (${layout.configDirectory.how})`,
    layout.unit.value ? `unit ${layout.unit.value} (${layout.unit.how})` : layout.unit.how,
  ];
}
