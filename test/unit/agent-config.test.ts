import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS, parseAgentConfig } from '../../core/agent-config.ts';
import { ConfigError } from '../../core/errors.ts';
import { resolvePassword } from '../../agent/password.ts';

const minimal = {
  cluster: 'prod',
  nodeId: 'db1',
  address: '10.0.1.10',
  database: { passwordEnv: 'PGFAILOVER_DB_PASSWORD' },
};

function problemsOf(input: unknown): string[] {
  try {
    parseAgentConfig(input, 'agent.json');
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the config to be refused');
}

describe('agent configuration', () => {
  it('fills every default for a minimal database node', () => {
    // Act
    const config = parseAgentConfig(minimal);
    // Assess
    expect(config.timeouts).toEqual(DEFAULT_TIMEOUTS);
    expect(config.role).toBe('database');
    expect(config.heartbeatIntervalMs).toBe(5000);
    expect(config.timeouts.nodeTimeoutMs).toBe(15_000);
    expect(config.store.table).toBe('pgfailover');
    expect(config.database).toMatchObject({
      host: '127.0.0.1',
      port: 5432,
      user: 'pgfailover',
      dbname: 'postgres',
      sslmode: 'prefer',
    });
  });

  it('keeps timeouts that are given and defaults the rest', () => {
    const config = parseAgentConfig({ ...minimal, timeouts: { nodeTimeoutMs: 8000, localTimeoutMs: 4000 } });
    expect(config.timeouts).toEqual({ ...DEFAULT_TIMEOUTS, nodeTimeoutMs: 8000, localTimeoutMs: 4000 });
  });

  it('accepts a witness without a database', () => {
    expect(parseAgentConfig({ cluster: 'prod', nodeId: 'w1', address: '10.0.1.20', role: 'witness' }).role).toBe(
      'witness',
    );
  });

  it('lists every problem at once: missing, unknown and ill-typed keys', () => {
    // Act
    const problems = problemsOf({
      nodeId: 'db 1',
      adress: '10.0.1.10',
      heartbeatIntervalMs: '1000',
      timeouts: { localPeriod: 5 },
    });
    // Assess
    expect(problems).toEqual(
      expect.arrayContaining([
        'cluster: required key is missing (expected string)',
        expect.stringMatching(/^nodeId: a node id is/),
        'address: required key is missing (expected string)',
        'adress: unknown key; check its spelling against the documented keys',
        expect.stringMatching(/^heartbeatIntervalMs: .*expected number/),
        'timeouts.localPeriod: unknown key; check its spelling against the documented keys',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a database node without database settings',
      { cluster: 'p', nodeId: 'db1', address: 'a' },
      /database: required when role is "database"/,
    ],
    ['a witness with database settings', { ...minimal, role: 'witness' }, /a witness has no database/],
    [
      'two password sources',
      { ...minimal, database: { passwordEnv: 'A', passwordFile: '/x' } },
      /one password source, not passwordEnv and passwordFile/,
    ],
    [
      'a final timeout longer than the local timeout',
      { ...minimal, timeouts: { localTimeoutMs: 1000, localTimeoutFinalMs: 2000 } },
      /localTimeoutFinalMs \(2000\) must not exceed/,
    ],
    [
      'a node timeout shorter than two heartbeats',
      { ...minimal, heartbeatIntervalMs: 3000, timeouts: { nodeTimeoutMs: 5000 } },
      /at least twice heartbeatIntervalMs/,
    ],
    [
      'a check period as long as the node timeout',
      { ...minimal, timeouts: { localPeriodMs: 15_000 } },
      /localPeriodMs \(15000\) must be shorter/,
    ],
    ['an unknown sslmode', { ...minimal, database: { sslmode: 'maybe' } }, /database\.sslmode/],
    ['a port out of range', { ...minimal, database: { port: 70000 } }, /database\.port/],
    ['a malformed store endpoint', { ...minimal, store: { endpoint: 'not a url' } }, /store\.endpoint/],
    ['a malformed instance id', { ...minimal, aws: { instanceId: 'abc' } }, /aws\.instanceId: an EC2 instance id/],
    ['a negative timeout', { ...minimal, timeouts: { remoteTimeoutMs: -1 } }, /timeouts\.remoteTimeoutMs/],
  ])('refuses %s', (_name, input, message) => {
    expect(problemsOf(input).join('\n')).toMatch(message);
  });

  it.each([
    ['no heartbeat interval, the default node timeout', {}, 5000],
    [
      'no heartbeat interval, a 5 s node timeout (a config from the 2 s default)',
      { timeouts: { nodeTimeoutMs: 5000 } },
      2000,
    ],
    ['no heartbeat interval, a 50 s node timeout (EFM)', { timeouts: { nodeTimeoutMs: 50_000 } }, 5000],
    ['a heartbeat interval given', { heartbeatIntervalMs: 1500, timeouts: { nodeTimeoutMs: 5000 } }, 1500],
  ])('heartbeats at the interval that fits the node timeout: %s', (_name, overrides, expectedMs) => {
    // Act
    const config = parseAgentConfig({ ...minimal, ...overrides });
    // Assess
    expect(config.heartbeatIntervalMs).toBe(expectedMs);
    expect(config.timeouts.nodeTimeoutMs).toBeGreaterThanOrEqual(config.heartbeatIntervalMs * 2);
  });

  it('refuses a plain-text password and says where to put it instead', () => {
    const problems = problemsOf({ ...minimal, database: { password: 'secret' } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/plain-text passwords are not accepted.*passwordEnv.*passwordFile/);
    expect(problems[0]).not.toContain('secret');
  });

  it('reads the password from the named environment variable', async () => {
    const config = parseAgentConfig(minimal);
    expect(await resolvePassword(config.database!, 'agent.json', { env: { PGFAILOVER_DB_PASSWORD: 's3cret' } })).toBe(
      's3cret',
    );
  });

  it('says which variable is missing when the password is not in the environment', async () => {
    const config = parseAgentConfig(minimal);
    await expect(resolvePassword(config.database!, 'agent.json', { env: {} })).rejects.toThrow(
      /PGFAILOVER_DB_PASSWORD is not set/,
    );
  });

  it.each([
    ['s3cret', 's3cret'],
    ['{"username":"pgfailover","password":"s3cret"}', 's3cret'],
  ])('reads the password from Secrets Manager (%s)', async (stored, password) => {
    const config = parseAgentConfig({ ...minimal, database: { passwordSecret: 'prod/pgfailover' } });
    const asked: string[] = [];
    const resolved = await resolvePassword(config.database!, 'agent.json', {
      fetchSecret: async (id) => (asked.push(id), stored),
    });
    expect(resolved).toBe(password);
    expect(asked).toEqual(['prod/pgfailover']);
  });

  it('says which secret could not be read', async () => {
    const config = parseAgentConfig({ ...minimal, database: { passwordSecret: 'prod/pgfailover' } });
    await expect(
      resolvePassword(config.database!, 'agent.json', {
        fetchSecret: async () => Promise.reject(new Error('AccessDenied')),
      }),
    ).rejects.toThrow(/database\.passwordSecret: cannot read prod\/pgfailover: AccessDenied/);
    await expect(
      resolvePassword(config.database!, 'agent.json', { fetchSecret: async () => '{"user":"x"}' }),
    ).rejects.toThrow(/JSON without a "password" key/);
  });
});
