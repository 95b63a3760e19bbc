// Telling systemd the agent is ready (Type=notify): PostgreSQL's unit waits for it. The agent calls it
// once it knows starting PostgreSQL cannot make a second writable primary. Outside systemd (no
// NOTIFY_SOCKET) it does nothing.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface Readiness {
  ready(status: string): Promise<void>;
}

const run = promisify(execFile);

/** systemd-notify, run by the agent (the unit says NotifyAccess=all); its failure is reported, not fatal. */
export class SystemdReadiness implements Readiness {
  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly command = 'systemd-notify',
  ) {}

  async ready(status: string): Promise<void> {
    if (!this.env.NOTIFY_SOCKET) return;
    await run(this.command, ['--ready', `--status=${status}`], { env: this.env, timeout: 5000 });
  }
}
