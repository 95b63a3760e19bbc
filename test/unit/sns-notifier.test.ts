import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SnsNotifier, snsSubject } from '../../lambdas/adapters/sns-notifier.ts';

const snsMock = mockClient(SNSClient);
beforeEach(() => snsMock.reset());

describe('SNS notifier', () => {
  it('publishes the notice with a subject SNS accepts and attributes a subscription can filter on', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const notifier = new SnsNotifier(
      new SNSClient({ region: 'eu-west-1' }),
      'arn:aws:sns:eu-west-1:111122223333:pgfailover',
    );
    // Act
    await notifier.notify('prod', {
      event: 'failover-completed',
      severity: 'WARNING',
      subject: 'WARNING: failover completed: db2 is the primary of prod',
      body: 'details',
      nodeId: 'db2',
    });
    // Assess
    expect(snsMock.commandCalls(PublishCommand)[0]?.args[0].input).toEqual({
      TopicArn: 'arn:aws:sns:eu-west-1:111122223333:pgfailover',
      Subject: '[pgfailover prod] WARNING: failover completed: db2 is the primary of prod',
      Message: 'details',
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'WARNING' },
        cluster: { DataType: 'String', StringValue: 'prod' },
        event: { DataType: 'String', StringValue: 'failover-completed' },
        node: { DataType: 'String', StringValue: 'db2' },
      },
    });
  });

  it.each([
    ['a'.repeat(150), `${'a'.repeat(97)}...`],
    ['line one\nline two', 'line one line two'],
    ['défaillance', 'd?faillance'],
    ['', 'pgfailover notice'],
  ])('makes %j a valid SNS subject', (text, subject) => {
    const result = snsSubject(text);
    expect(result).toBe(subject);
    expect(result.length).toBeLessThanOrEqual(100);
  });

  it('names the missing permission when SNS refuses', async () => {
    snsMock.on(PublishCommand).rejects(Object.assign(new Error('denied'), { name: 'AuthorizationError' }));
    const notifier = new SnsNotifier(
      new SNSClient({ region: 'eu-west-1' }),
      'arn:aws:sns:eu-west-1:111122223333:pgfailover',
    );
    await expect(
      notifier.notify('prod', { event: 'x', severity: 'INFO', subject: 's', body: 'b', nodeId: null }),
    ).rejects.toThrow(
      /sns:Publish on arn:aws:sns:eu-west-1:111122223333:pgfailover was refused \(AuthorizationError\)/,
    );
  });
});
