// Notices to an SNS topic: the subject fits SNS's limits, the body is the notice's, and message
// attributes (severity, cluster, event) let a subscription filter, e.g. e-mail for WARNING and SEVERE.

import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Notice } from '../../core/notices.ts';
import type { Notifier } from '../../core/ports.ts';
import { callAws } from '../../core/aws-errors.ts';

/** SNS subjects: at most 100 characters, printable ASCII, no line breaks, starting with a letter, digit or punctuation. */
export function snsSubject(text: string): string {
  const printable = text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7E]/g, '?')
    .trim();
  const subject = printable.length > 100 ? `${printable.slice(0, 97)}...` : printable;
  return subject || 'pgfailover notice';
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async notify(cluster: string, notice: Notice): Promise<void> {
    await callAws('sns:Publish', this.topicArn, () =>
      this.sns.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          Subject: snsSubject(`[pgfailover ${cluster}] ${notice.subject}`),
          Message: notice.body,
          MessageAttributes: {
            severity: { DataType: 'String', StringValue: notice.severity },
            cluster: { DataType: 'String', StringValue: cluster },
            event: { DataType: 'String', StringValue: notice.event },
            ...(notice.nodeId ? { node: { DataType: 'String', StringValue: notice.nodeId } } : {}),
          },
        }),
      ),
    );
  }
}
