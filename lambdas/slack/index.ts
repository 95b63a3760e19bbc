// The Slack Lambda's entry point: wiring from the environment only.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSlackHandler } from './handler.ts';

const secretId = process.env.SLACK_WEBHOOK_SECRET_ARN;
if (!secretId)
  throw new Error(
    'SLACK_WEBHOOK_SECRET_ARN is not set: the Slack function needs the secret that holds the webhook URL',
  );

export const handler = createSlackHandler({
  secrets: new SecretsManagerClient({ region: process.env.AWS_REGION }),
  secretId,
});
