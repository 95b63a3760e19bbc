// An SNS notice as a Slack message: severity first, so that a channel can be skimmed.

export interface SnsRecord {
  Sns: {
    Subject?: string | null;
    Message: string;
    MessageAttributes?: Record<string, { Type?: string; Value?: string }>;
  };
}

const ICON: Record<string, string> = { SEVERE: ':rotating_light:', WARNING: ':warning:', INFO: ':information_source:' };

/** A CloudWatch alarm's message (JSON, no message attributes), or undefined when it is not one. */
function alarmOf(message: string): { AlarmName: string; NewStateValue: string; NewStateReason?: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(message);
    if (parsed && typeof parsed === 'object' && 'AlarmName' in parsed && 'NewStateValue' in parsed) {
      const alarm = parsed as { AlarmName: unknown; NewStateValue: unknown; NewStateReason?: unknown };
      return {
        AlarmName: String(alarm.AlarmName),
        NewStateValue: String(alarm.NewStateValue),
        ...(alarm.NewStateReason !== undefined ? { NewStateReason: String(alarm.NewStateReason) } : {}),
      };
    }
  } catch {
    // Not JSON: a notice.
  }
  return undefined;
}

export function slackMessage(record: SnsRecord): { text: string } {
  const alarm = alarmOf(record.Sns.Message);
  if (alarm) {
    const icon = alarm.NewStateValue === 'ALARM' ? ':rotating_light:' : ':white_check_mark:';
    return { text: `${icon} *${alarm.NewStateValue}* ${alarm.AlarmName}\n${alarm.NewStateReason ?? ''}`.trim() };
  }
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
