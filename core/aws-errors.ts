// What AWS errors mean for pgfailover: retry (throttling), or stop and tell a person what is missing.

export const THROTTLING_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
]);
const AUTHORIZATION_CODES = new Set([
  'UnauthorizedOperation',
  'AccessDenied',
  'AccessDeniedException',
  'AuthorizationError',
]);

export function awsErrorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const named = error as { name?: unknown; Code?: unknown; code?: unknown };
  return String(named.Code ?? named.code ?? named.name ?? '');
}

/** A failure a person must fix: it names the missing permission or resource. */
export class AwsSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AwsSetupError';
  }
}

/** Retries throttled calls with exponential backoff and jitter; turns setup errors into AwsSetupError. */
export async function callAws<T>(
  action: string,
  resource: string,
  call: () => Promise<T>,
  options: { attempts?: number; baseDelayMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const code = awsErrorCode(error);
      if (THROTTLING_CODES.has(code) && attempt < attempts) {
        await sleep(baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
        continue;
      }
      if (AUTHORIZATION_CODES.has(code)) {
        throw new AwsSetupError(
          `${action} on ${resource} was refused (${code}): grant ${action} to the evaluator's role (the CDK stack does) and check any permission boundary or SCP`,
        );
      }
      if (/NotFound(Exception)?$/.test(code)) {
        throw new AwsSetupError(
          `${action} failed: ${resource} does not exist (${code}); check the cluster's address settings and the node's instance and ENI ids`,
        );
      }
      throw error;
    }
  }
}
