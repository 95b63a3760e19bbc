// The local mode's watchdog file: written in place, so a reader may meet a write half done. Such a read must
// never decode to a record, least of all to a deadline that neither write held (an early one would kill a
// healthy primary, a late one fence an isolated primary too late).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeWatchdogRecord,
  encodeWatchdogRecord,
  FileWatchdog,
  readWatchdogFile,
} from '../../agent/watchdog/file-watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgfailover-watchdog-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the file watchdog record', () => {
  it('reads back what the agent armed, then disarmed, from a file of fixed length', async () => {
    // Prepare
    const path = join(dir, 'watchdog.json');
    const watchdog = new FileWatchdog(path);
    // Act
    await watchdog.arm(1_240_400.5);
    const armed = readWatchdogFile(path);
    const length = readFileSync(path).length;
    await watchdog.disarm();
    const disarmed = readWatchdogFile(path);
    watchdog.close();
    // Assess
    expect(armed).toMatchObject({ armed: true, deadlineMonoMs: 1_240_400.5, writer: process.pid });
    expect(disarmed).toMatchObject({ armed: false, deadlineMonoMs: 0 });
    expect(readFileSync(path).length).toBe(length);
  });

  it('never decodes a read torn between two records, wherever the tear falls', () => {
    // Prepare: an old record and a new one whose deadlines differ in many digits (1239999 and 1240400.25).
    const before = encodeWatchdogRecord({ armed: true, deadlineMonoMs: 1_239_999, writer: 4242 });
    const after = encodeWatchdogRecord({ armed: true, deadlineMonoMs: 1_240_400.25, writer: 4242 });
    // Act: every split of the new record's first bytes over the old one's rest.
    const decoded = new Set<string>();
    for (let tear = 0; tear <= after.length; tear++) {
      const torn = Buffer.concat([after.subarray(0, tear), before.subarray(tear)]).toString();
      const record = decodeWatchdogRecord(torn);
      if (record) decoded.add(String(record.deadlineMonoMs));
    }
    // Assess: only the two whole records ever decode.
    expect([...decoded].sort()).toEqual(['1239999', '1240400.25']);
  });

  it('does not decode an empty file, another JSON document, or a record with a foreign seal', () => {
    expect(decodeWatchdogRecord('')).toBeUndefined();
    expect(decodeWatchdogRecord('{"armed":true,"deadlineMonoMs":5,"writer":1}')).toBeUndefined();
    expect(decodeWatchdogRecord('{"armed":true,"deadlineMonoMs":5,"writer":1,"seal":"true|6|1"}')).toBeUndefined();
  });
});
