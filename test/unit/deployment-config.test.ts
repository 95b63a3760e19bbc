// The CDK app's checked-in configuration: validated, with a message that says what to write.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextProblem, loadDeploymentConfig } from '../../infra/deployment-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgfailover-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

describe('deployment config', () => {
  it('reads a valid config, defaults filled', () => {
    expect(loadDeploymentConfig(file('ok.json', { clusters: ['prod'], alertEmails: [] }))).toEqual({
      clusters: ['prod'],
      alertEmails: [],
      addressModes: [],
      ec2StopFencing: false,
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['no alert recipients said', { clusters: ['prod'] }, /alertEmails: required key is missing/],
    ['no cluster', { clusters: [], alertEmails: [] }, /clusters: name at least one cluster/],
    ['a bad e-mail', { clusters: ['prod'], alertEmails: ['dba'] }, /alertEmails\.0: an e-mail address/],
    [
      'a bad secret ARN',
      { clusters: ['prod'], alertEmails: [], slackWebhookSecretArn: 'slack' },
      /slackWebhookSecretArn: a Secrets Manager secret ARN/,
    ],
    ['an unknown mode', { clusters: ['prod'], alertEmails: [], addressModes: ['vip'] }, /addressModes\.0/],
    ['not JSON', '{clusters', /is not JSON/],
    [
      'zero write units',
      { clusters: ['prod'], alertEmails: [], tableCapacity: { readUnits: 5, writeUnits: 0 } },
      /tableCapacity\.writeUnits: at least 1 write unit/,
    ],
    [
      'provisioned capacity sized for the steady load alone',
      { clusters: ['prod', 'reporting'], alertEmails: [], tableCapacity: { readUnits: 20, writeUnits: 40 } },
      /tableCapacity: tableCapacity of 40 write units \(at least 56\) and 20 read units \(at least 87\) is too small for 2 cluster\(s\).*a throttled lease renewal stops a healthy primary.*leave tableCapacity out for on-demand/,
    ],
  ])('refuses %s, saying what is wrong', (_name, content, message) => {
    expect(() => loadDeploymentConfig(file('bad.json', content))).toThrow(message);
  });

  it('takes provisioned capacity with room for a failover', () => {
    const capacity = { readUnits: 92, writeUnits: 58 };
    expect(
      loadDeploymentConfig(file('capacity.json', { clusters: ['a', 'b'], alertEmails: [], tableCapacity: capacity }))
        .tableCapacity,
    ).toEqual(capacity);
  });

  it('says how to create a missing file', () => {
    expect(() => loadDeploymentConfig(join(dir, 'missing.json'))).toThrow(
      /not found: create it with at least \{"clusters": \["prod"\], "alertEmails"/,
    );
  });
});

describe('the app context', () => {
  it.each<[string, Record<string, unknown>, RegExp | undefined]>([
    [
      "only -c config and CDK's own keys: fine",
      { config: 'x.json', 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:x': true, 'cli-telemetry': false },
      undefined,
    ],
    [
      'a setting passed as -c: refused, naming the file',
      { ec2StopFencing: 'true' },
      /unknown context key "ec2StopFencing": this app reads only -c config=FILE; put ec2StopFencing in the deployment config file/,
    ],
    [
      'several: all named',
      { alertEmails: 'a@b', addressModes: 'eip' },
      /unknown context keys "addressModes", "alertEmails"/,
    ],
  ])('%s', (_what, context, problem) => {
    // Act
    const found = contextProblem(context);
    // Assess
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });
});
