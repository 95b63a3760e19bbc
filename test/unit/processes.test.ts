import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, GiveUp, waitFor } from '../../cli/local/processes.ts';

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range, where outgoing connections cannot take them', async () => {
    // Prepare
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/);
    // Act
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
    // Assess
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port).toBeLessThan(Number(low));
  });

  it('hands out a port something can listen on', async () => {
    // Prepare
    const port = await freePort();
    const server = createServer();
    // Act
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    // Assess
    expect(server.listening).toBe(true);
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('waitFor', () => {
  it('keeps polling through ordinary errors and returns the first value', async () => {
    // Prepare
    let calls = 0;
    // Act
    const value = await waitFor(
      'the third call',
      () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
        return calls;
      },
      5000,
      1,
    );
    // Assess
    expect(value).toBe(3);
  });

  it('ends at once on GiveUp instead of waiting out the deadline', async () => {
    // Prepare
    const startedMs = performance.now();
    // Act
    const waiting = waitFor(
      'a process that exited',
      () => {
        throw new GiveUp('the controller exited');
      },
      60_000,
      1,
    );
    // Assess
    await expect(waiting).rejects.toThrow('the controller exited');
    expect(performance.now() - startedMs).toBeLessThan(30_000);
  });

  it('names what it waited for and the last error when the deadline passes', async () => {
    // Act
    const waiting = waitFor(
      'the impossible',
      () => {
        throw new Error('still no');
      },
      20,
      1,
    );
    // Assess
    await expect(waiting).rejects.toThrow(/timed out after 20 ms waiting for the impossible: Error: still no/);
  });
});
