// moto's server (Python, `moto_server`), the AWS emulator the EC2 adapters and the Slack function are run
// against: started on a free loopback port for a test file and stopped by its PID, also when the file fails;
// and how an SDK client reaches it and records every request it sends.

import { spawn, type ChildProcess } from 'node:child_process';
import type { MiddlewareStack } from '@smithy/types';
import { freePort } from '../../cli/local/processes.ts';
import { pollUntil } from './poll.ts';

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`moto_server did not start (${error.message}): scripts/setup.sh installs moto[server]`)),
    );
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await Promise.race([
      failed,
      pollUntil(
        `moto_server on port ${port} to answer`,
        () =>
          fetch(`${endpoint}/moto-api/`).then(
            (response) => (response.ok ? true : undefined),
            () => undefined,
          ),
        30_000,
        100,
      ),
    ]);
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${stderr.slice(-2000)}`);
  }
  return { endpoint, stop };
}

/** What an AWS SDK client needs to reach moto: its endpoint, any credentials, no retries. */
export function motoClientConfig(endpoint: string) {
  return {
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'moto', secretAccessKey: 'moto' },
    maxAttempts: 1,
  };
}

/** One request an SDK client sent, as IAM names its action, with the input it carried. */
export interface AwsRequest {
  action: string;
  input: Record<string, unknown>;
}

/** Appends every request a client sends (`client.middlewareStack`) to `requests`, its action prefixed with `service`. */
export function recordAwsRequests<I extends object, O extends object>(
  stack: MiddlewareStack<I, O>,
  service: string,
  requests: AwsRequest[],
): void {
  stack.add(
    (next, context) => async (args) => {
      requests.push({
        action: `${service}:${String(context.commandName).replace(/Command$/, '')}`,
        input: args.input as Record<string, unknown>,
      });
      return next(args);
    },
    { step: 'initialize', name: 'pgfailoverRequestRecorder' },
  );
}
