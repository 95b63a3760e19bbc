// The systemd readiness adapter, with a stand-in for systemd-notify that records its arguments.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemdReadiness } from '../../agent/readiness.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgfailover-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const notify = join(dir, 'systemd-notify');
writeFileSync(notify, `#!/bin/sh\nprintf '%s\\n' "$NOTIFY_SOCKET" "$@" > ${dir}/called\n`);
chmodSync(notify, 0o755);

describe('SystemdReadiness', () => {
  it('runs systemd-notify --ready with the status under systemd (NOTIFY_SOCKET set)', async () => {
    await new SystemdReadiness({ NOTIFY_SOCKET: '/run/systemd/notify', PATH: process.env.PATH }, notify).ready(
      'this node is the primary of term 3',
    );
    expect(readFileSync(join(dir, 'called'), 'utf8')).toBe(
      '/run/systemd/notify\n--ready\n--status=this node is the primary of term 3\n',
    );
  });

  it('does nothing outside systemd', async () => {
    rmSync(join(dir, 'called'), { force: true });
    await new SystemdReadiness({ PATH: process.env.PATH }, notify).ready('x');
    expect(() => readFileSync(join(dir, 'called'))).toThrow(/ENOENT/);
  });
});
