// What a failed state-store request means to the person running a command: the SDK's own words ("Region
// is missing", "Could not load credentials from any providers", "connect ECONNREFUSED") say what broke,
// not what to do. Each known case becomes a sentence with the fix, and whether it is bad input (exit 2)
// or something else (exit 3).

import { awsErrorCode } from './aws-errors.ts';
import { EXIT } from './exit-codes.ts';

export interface StoreContext {
  table: string;
  region: string | undefined;
  endpoint: string | undefined;
}

export interface ExplainedStoreError {
  message: string;
  /** 2: fix the command or its environment; 3: something outside is not working. */
  exitCode: typeof EXIT.usage | typeof EXIT.failure;
}

export function explainStoreError(error: unknown, context: StoreContext): ExplainedStoreError | undefined {
  const code = awsErrorCode(error);
  const text = error instanceof Error ? error.message : String(error);
  const where = context.endpoint
    ? `the store at ${context.endpoint}`
    : `DynamoDB in ${context.region ?? '(no region)'}`;
  if (/Region is missing/i.test(text)) {
    return {
      exitCode: EXIT.usage,
      message:
        'no AWS region is set for the state table: pass --region REGION, set AWS_REGION, or take both from an agent config with --config FILE',
    };
  }
  if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(text)) {
    return {
      exitCode: EXIT.failure,
      message: `no AWS credentials were found to reach ${where}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an instance or task role applies`,
    };
  }
  if (code === 'ResourceNotFoundException') {
    return {
      exitCode: EXIT.usage,
      message: `table ${context.table} does not exist in ${where}: check --table (or PGFAILOVER_TABLE) and --region; the CDK stack creates it, or pgfailover init --create-table does`,
    };
  }
  if (
    /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENOENT/.test(code) ||
    /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|connect ENOENT/.test(text)
  ) {
    return {
      exitCode: EXIT.failure,
      message: `nothing answers at ${where} (${code || text}): check --endpoint (or PGFAILOVER_STORE_ENDPOINT); for a local cluster, is it running (pgfailover local status --dir DIR)?`,
    };
  }
  if (code === 'TimeoutError' || /timed? ?out/i.test(text)) {
    return {
      exitCode: EXIT.failure,
      message: `${where} did not answer in time: check the network path to it (VPC endpoint or NAT for DynamoDB) and try again`,
    };
  }
  if (code === 'AccessDeniedException' || code === 'UnrecognizedClientException') {
    return {
      exitCode: EXIT.failure,
      message: `${where} refused the request (${code}): these credentials may not use table ${context.table}; grant dynamodb:GetItem, Query and PutItem on it`,
    };
  }
  // Something answered, but not as DynamoDB does (a proxy's error page, another service on that port): the
  // SDK then says only "UnknownError" or that the body is not JSON.
  const status = httpStatusOf(error);
  if (status !== undefined && (code === 'UnknownError' || code === 'SyntaxError' || code === '')) {
    return {
      exitCode: EXIT.failure,
      message: `${where} answered with HTTP ${status}, not as DynamoDB does: check --endpoint (or PGFAILOVER_STORE_ENDPOINT) and any proxy on the way (HTTPS_PROXY, NO_PROXY)`,
    };
  }
  return undefined;
}

function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata;
  if (typeof metadata !== 'object' || metadata === null || !('httpStatusCode' in metadata)) return undefined;
  return typeof metadata.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}
