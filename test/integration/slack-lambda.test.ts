// The Slack Lambda against a real HTTP server on loopback standing in for Slack's incoming webhook, with
// Secrets Manager mocked (aws-sdk-client-mock).

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSlackHandler, webhookUrlFrom } from '../../lambdas/slack/handler.ts';

const secretsMock = mockClient(SecretsManagerClient);
const received: { path: string; body: { text: string } }[] = [];
let status = 200;
const server = createServer((request: IncomingMessage, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    received.push({ path: request.url ?? '', body: JSON.parse(body) as { text: string } });
    response.writeHead(status).end(status === 200 ? 'ok' : 'invalid_payload');
  });
});
let hookUrl = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXXX`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  secretsMock.reset();
  received.length = 0;
  status = 200;
});

const event = {
  Records: [
    {
      Sns: {
        Subject: '[pgfailover prod] WARNING: failover completed: db2 is the primary of prod',
        Message: 'failover completed\n\nCluster:  prod\nTerm:     2',
        MessageAttributes: {
          severity: { Type: 'String', Value: 'WARNING' },
          cluster: { Type: 'String', Value: 'prod' },
        },
      },
    },
  ],
};

describe('Slack Lambda', () => {
  it('reads the webhook URL from Secrets Manager once and posts a formatted message', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ url: hookUrl }) });
    const handler = createSlackHandler({
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack',
    });
    // Act
    await handler(event);
    await handler(event);
    // Assess
    expect(secretsMock.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input)).toEqual([
      { SecretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slack' },
    ]);
    expect(received).toHaveLength(2);
    expect(received[0]?.path).toBe('/services/T000/B000/XXXX');
    expect(received[0]?.body.text).toBe(
      ':warning: *WARNING* `prod` [pgfailover prod] WARNING: failover completed: db2 is the primary of prod\n```failover completed\n\nCluster:  prod\nTerm:     2```',
    );
  });

  it('fails the invocation when Slack refuses, so that SNS retries', async () => {
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: hookUrl });
    status = 400;
    const handler = createSlackHandler({
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretId: 'slack',
    });
    await expect(handler(event)).rejects.toThrow(/the Slack webhook answered 400: invalid_payload/);
  });

  it('says which secret is missing or unusable', async () => {
    secretsMock
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('no such secret'), { name: 'ResourceNotFoundException' }));
    const handler = createSlackHandler({
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretId: 'slack',
    });
    await expect(handler(event)).rejects.toThrow(/secretsmanager:GetSecretValue failed: slack does not exist/);
    expect(() => webhookUrlFrom('{"channel":"#db"}', 'slack')).toThrow(/secret slack holds no webhook URL/);
    expect(received).toHaveLength(0);
  });
});

describe('alarm messages', () => {
  it('posts a CloudWatch alarm (JSON, no message attributes) as the alarm, not as an INFO notice', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: hookUrl });
    const handler = createSlackHandler({
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      secretId: 'slack',
    });
    const alarm = {
      AlarmName: 'PgFailover-EvaluatorNotRunning',
      NewStateValue: 'ALARM',
      NewStateReason: 'Threshold Crossed: no datapoints were received for 2 periods',
    };
    // Act
    await handler({
      Records: [{ Sns: { Subject: 'ALARM: "PgFailover-EvaluatorNotRunning"', Message: JSON.stringify(alarm) } }],
    });
    // Assess
    expect(received[0]?.body.text).toBe(
      ':rotating_light: *ALARM* PgFailover-EvaluatorNotRunning\nThreshold Crossed: no datapoints were received for 2 periods',
    );
  });
});
