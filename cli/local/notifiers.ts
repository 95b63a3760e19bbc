// The local mode's notification sinks: a JSON-lines file, and optionally a webhook.

import { appendFile } from 'node:fs/promises';
import type { Notice } from '../../core/notices.ts';
import type { Notifier } from '../../core/ports.ts';
import type { Clock } from '../../core/clock.ts';

export class JsonLinesNotifier implements Notifier {
  constructor(
    private readonly path: string,
    private readonly clock: Clock,
  ) {}

  async notify(cluster: string, notice: Notice): Promise<void> {
    await appendFile(this.path, `${JSON.stringify({ atMs: this.clock.nowMs(), cluster, ...notice })}\n`);
  }
}

export class WebhookNotifier implements Notifier {
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

  async notify(cluster: string, notice: Notice): Promise<void> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cluster, ...notice }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw new Error(`webhook ${this.url} answered ${response.status}`);
  }
}

export function fanOut(notifiers: Notifier[]): Notifier {
  return {
    async notify(cluster, notice) {
      const results = await Promise.allSettled(notifiers.map((notifier) => notifier.notify(cluster, notice)));
      const failed = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed.length > 0) throw new Error(failed.map((result) => String(result.reason)).join('; '));
    },
  };
}
