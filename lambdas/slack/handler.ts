// The Slack Lambda, subscribed to the alerts topic: posts each notice to an incoming webhook whose URL
// is kept in Secrets Manager (never in the environment or the template).

import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { callAws } from '../../core/aws-errors.ts';
import { slackMessage, type SnsRecord } from './slack-message.ts';

export interface SlackDeps {
  secrets: SecretsManagerClient;
  secretId: string;
  post?: typeof fetch;
  timeoutMs?: number;
}

/** The secret holds the webhook URL, or JSON with a "url" (or "webhookUrl") key. */
export function webhookUrlFrom(secret: string, secretId: string): string {
  let candidate = secret.trim();
  if (candidate.startsWith('{')) {
    const parsed: unknown = JSON.parse(candidate);
    const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    candidate = String(record.url ?? record.webhookUrl ?? '');
  }
  if (!/^https?:\/\//.test(candidate))
    throw new Error(
      `secret ${secretId} holds no webhook URL: store the Slack incoming-webhook URL, or JSON {"url": "https://hooks.slack.com/..."}`,
    );
  return candidate;
}

export function createSlackHandler(deps: SlackDeps) {
  let url: string | undefined;
  const post = deps.post ?? fetch;
  return async (event: { Records: SnsRecord[] }): Promise<{ posted: number }> => {
    if (!url) {
      const secret = await callAws('secretsmanager:GetSecretValue', deps.secretId, () =>
        deps.secrets.send(new GetSecretValueCommand({ SecretId: deps.secretId })),
      );
      url = webhookUrlFrom(secret.SecretString ?? '', deps.secretId);
    }
    for (const record of event.Records) {
      const response = await post(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(slackMessage(record)),
        signal: AbortSignal.timeout(deps.timeoutMs ?? 5000),
      });
      // Failing the invocation lets SNS retry the delivery.
      if (!response.ok)
        throw new Error(`the Slack webhook answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    }
    return { posted: event.Records.length };
  };
}
