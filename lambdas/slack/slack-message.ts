// An SNS notice as a Slack message: severity first, so that a channel can be skimmed.

export interface SnsRecord {
  Sns: {
    Subject?: string | null;
    Message: string;
    MessageAttributes?: Record<string, { Type?: string; Value?: string }>;
  };
}

const ICON: Record<string, string> = { SEVERE: ':rotating_light:', WARNING: ':warning:', INFO: ':information_source:' };

export function slackMessage(record: SnsRecord): { text: string } {
  const attributes = record.Sns.MessageAttributes ?? {};
  const severity = attributes.severity?.Value ?? 'INFO';
  const cluster = attributes.cluster?.Value;
  const subject = record.Sns.Subject ?? 'pgfailover notice';
  // Slack's mrkdwn: keep the body verbatim in a code block; ``` inside it would end the block.
  const body = record.Sns.Message.replaceAll('```', "'''");
  return {
    text: `${ICON[severity] ?? ''} *${severity}*${cluster ? ` \`${cluster}\`` : ''} ${subject}\n\`\`\`${body}\`\`\``.trim(),
  };
}
