import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rejoinLockHolder, takeRejoinLock } from '../../agent/rejoin.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function dataDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgfailover-lock-'));
  dirs.push(dir);
  return join(dir, 'data');
}

describe('rejoin lock', () => {
  it('lets one rejoin at a time work on a data directory', () => {
    // Prepare
    const data = dataDirectory();
    const release = takeRejoinLock(data);
    // Act
    const second = () => takeRejoinLock(data);
    // Assess
    expect(second).toThrow(/a rejoin of .* is already under way \(PID \d+\); wait for it to finish/);
    expect(rejoinLockHolder(data)).toBe(process.pid);
    release();
    expect(rejoinLockHolder(data)).toBeUndefined();
    expect(existsSync(`${data}.rejoin.lock`)).toBe(false);
    takeRejoinLock(data)();
  });

  it('takes over the lock of a rejoin whose process is gone', () => {
    // Prepare: a PID far above any pid_max leaves no process behind it.
    const data = dataDirectory();
    writeFileSync(`${data}.rejoin.lock`, '99999999\n');
    expect(rejoinLockHolder(data)).toBeUndefined();
    // Act
    const release = takeRejoinLock(data);
    // Assess
    expect(existsSync(`${data}.rejoin.lock`)).toBe(true);
    release();
  });
});
