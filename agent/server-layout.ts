// This host's PostgreSQL, wired for the programs that act on it (the agent, pgfailover rejoin): the layout
// found or configured (core/postgres-layout.ts) is set for every server command, and the server is started
// through PostgreSQL's unit when systemd runs one (it then lives in that unit's cgroup), else with pg_ctl.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../core/agent-config.ts';
import { resolvePostgresLayout, type PostgresLayout } from '../core/postgres-layout.ts';
import { hostView } from './host-view.ts';
import { useServerLayout } from './server-control.ts';
import { PgCtlStarter, serverLogFile, UnitStarter, type ServerStarter } from './server-starter.ts';

export interface ServerWiring {
  layout: PostgresLayout;
  /** How createNodeOps starts the server; undefined without a data directory. */
  server?: { starter: ServerStarter; configFile?: string };
}

/** The layout of a database node, set for every server command; undefined on a witness. Throws LayoutError. */
export function wireServer(config: AgentConfig): ServerWiring | undefined {
  if (config.role !== 'database') return undefined;
  const dataDirectory = config.database?.dataDirectory;
  const layout = resolvePostgresLayout(config.postgres, dataDirectory, hostView(), process.env);
  useServerLayout({ binDirectory: layout.binDirectory.value, osUser: layout.osUser.value });
  if (!dataDirectory) return { layout };
  const directory = layout.configDirectory.value;
  const configFile = directory === dataDirectory ? undefined : join(directory, 'postgresql.conf');
  // sd_booted(): systemd runs this host only if /run/systemd/system exists.
  const starter =
    layout.unit.value && existsSync('/run/systemd/system')
      ? new UnitStarter(layout.unit.value)
      : new PgCtlStarter(directory, serverLogFile(dataDirectory));
  return { layout, server: { starter, ...(configFile ? { configFile } : {}) } };
}
