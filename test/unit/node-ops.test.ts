import { describe, expect, it } from 'vitest';
import { createNodeOps } from '../../agent/node-ops.ts';
import { parseAgentConfig } from '../../core/agent-config.ts';
import { UnitStarter } from '../../agent/server-starter.ts';

const config = parseAgentConfig({
  cluster: 'prod',
  nodeId: 'db2',
  address: '10.0.1.11',
  database: { dataDirectory: '/var/lib/postgresql/15/main' },
  replication: { user: 'replicator', passfile: '/var/lib/postgresql/.pgpass', sslmode: 'require' },
  aws: { secondaryIpDevice: 'ens5', secondaryIpPrefixLength: 24 },
});

describe('node operations', () => {
  it('brings a secondary IP up and down with the exact ip commands', async () => {
    // Prepare
    const commands: string[] = [];
    const ops = createNodeOps(
      config,
      undefined,
      async (command, args) => void commands.push([command, ...args].join(' ')),
    );
    // Act
    await ops.holdAddress('10.0.1.100', true);
    await ops.holdAddress('10.0.1.100', false);
    // Assess
    expect(commands).toEqual(['ip addr replace 10.0.1.100/24 dev ens5', 'ip addr del 10.0.1.100/24 dev ens5']);
  });

  it('builds primary_conninfo from the replication settings, naming itself for pg_stat_replication', () => {
    const ops = createNodeOps(config, undefined);
    expect(ops.conninfoFor('10.0.1.10')).toBe(
      'host=10.0.1.10 port=5432 user=replicator application_name=db2 sslmode=require connect_timeout=2 passfile=/var/lib/postgresql/.pgpass',
    );
    expect(ops.conninfoFor('[fd00::1]:5433')).toMatch(/^host=fd00::1 port=5433 /);
  });

  it("starts the server through PostgreSQL's unit once systemd has seen the old server exit", async () => {
    // Prepare: a stand-in systemctl; the unit still reads active twice (systemd has not reaped the postmaster).
    const calls: string[] = [];
    const states = ['active', 'deactivating', 'failed'];
    const starter = new UnitStarter(
      'postgresql@15-main.service',
      async (command, args) => {
        calls.push([command, ...args].join(' '));
        return { stdout: args[0] === 'show' ? `${states.shift() ?? 'inactive'}\n` : '' };
      },
      async () => undefined,
    );
    // Act
    await starter.start(false);
    await starter.start(true, 20);
    // Assess: a start only once the unit is down; never a stop or restart of it.
    expect(calls.filter((call) => !call.includes(' show '))).toEqual([
      'systemctl start --no-block postgresql@15-main.service',
      'systemctl start postgresql@15-main.service',
    ]);
    expect(calls.filter((call) => call.includes(' show '))).toHaveLength(4);
  });
});
