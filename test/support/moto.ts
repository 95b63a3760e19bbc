// moto's server (Python, `moto_server`), the AWS emulator the EC2 adapters are run against: started on a free
// loopback port for a test file and stopped by its PID, also when the file fails.

import { spawn, type ChildProcess } from 'node:child_process';
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
