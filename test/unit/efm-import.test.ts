// import-efm: every property of an EFM cluster's file mapped, ignored with a reason, or reported unknown;
// the result is a valid agent config and the cluster's setup commands.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../core/agent-config.ts';
import { importEfm, parseProperties } from '../../core/efm-import.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('import-efm', () => {
  it('reads Java properties: comments, both separators, continuations', () => {
    const parsed = parseProperties('# c\n! c\na=1\nb : two\nc=x \\\n  y\nempty=\n');
    expect([...parsed]).toEqual([
      ['a', '1'],
      ['b', 'two'],
      ['c', 'x y'],
      ['empty', ''],
    ]);
  });

  it('maps an EFM cluster into a valid agent config and setup commands', () => {
    // Act
    const result = importEfm('/etc/edb/efm-3.2/prod.properties', fixture('efm.properties'), fixture('efm.nodes'));
    // Assess
    expect(result.cluster).toBe('prod');
    const config = parseAgentConfig(result.agentConfig);
    expect(config).toMatchObject({
      nodeId: 'node-10-0-1-10',
      address: '10.0.1.10:5444',
      database: { user: 'efm_monitor', port: 5444, dbname: 'edb', dataDirectory: '/var/lib/edb/as10/data' },
      // EDB's own packaging: its programs and OS user, which the agent would not find by itself.
      postgres: { binDirectory: '/usr/edb/as10/bin', osUser: 'enterprisedb' },
      hooks: {
        fence: '/usr/local/bin/fence.sh',
        loadBalancerDetach: '/usr/local/bin/lb_detach.sh %h',
        primaryIsolated: '/usr/local/bin/isolated.sh',
      },
      timeouts: { localPeriodMs: 10_000, nodeTimeoutMs: 50_000 },
      checkAddressBeforePromotion: true,
      aws: { secondaryIpDevice: 'eth0', secondaryIpPrefixLength: 24 },
      logLevel: 'DEBUG',
    });
    expect(result.commands).toEqual([
      'pgfailover init --cluster prod --no-auto-failover --address-mode secondary-ip --address 10.0.1.100',
      'pgfailover allow-node --cluster prod node-10-0-1-10 --address 10.0.1.10:5444',
      'pgfailover allow-node --cluster prod node-10-0-1-11 --address 10.0.1.11:5444',
      'pgfailover allow-node --cluster prod node-10-0-1-12 --address 10.0.1.12:5444',
    ]);
    // Every property is accounted for, once.
    const properties = [...parseProperties(fixture('efm.properties'))].filter(([, value]) => value !== '');
    const seen = [...result.mapped, ...result.ignored, ...result.unknown].map((entry) => entry.property);
    expect(seen.sort()).toEqual(properties.map(([key]) => key).sort());
    expect(result.ignored.find((entry) => entry.property === 'pingServerIp')?.why).toMatch(/lease/);
    expect(result.unknown).toEqual([{ property: 'stop.isolated.mastr', value: 'true' }]);
    expect(result.todo.join('\n')).toMatch(
      /monitoring password[\s\S]*EFM's timeouts were kept: remote\.timeout 10000 ms: peers take that long to call a dead primary node DOWN.*node\.timeout 50000 ms/,
    );
  });

  it('imports a witness without a database', () => {
    const result = importEfm('w.properties', 'bind.address=10.0.1.20:7800\nis.witness=true\n', undefined);
    expect(parseAgentConfig(result.agentConfig)).toMatchObject({ role: 'witness', address: '10.0.1.20:5432' });
    expect(result.agentConfig).not.toHaveProperty('database');
  });
});
