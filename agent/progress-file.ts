// The agent's progress (the steps done in the current term, core/agent-rules.ts) on disk, as
// pg_auto_failover's keeper keeps its state file: written atomically after every step, read at start, so
// that an agent restarted half-way through a term neither repeats a step (a hook, a promotion) nor
// forgets one (the post-promotion hook after its own promotion). A file that does not parse is reported
// and ignored: the agent then starts from nothing, as it did before the file existed.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { AgentProgress } from '../core/agent-rules.ts';
import type { ProgressStore } from './ports/progress-store.ts';

const progressSchema = z.strictObject({
  term: z.number().int().nonnegative(),
  done: z.array(
    z.enum([
      'self-fence',
      'demote',
      'promote',
      'post-promotion-hook',
      'fence-and-release',
      'fence',
      'mark-standby',
      'rejoin',
      'repoint',
      'report-repointed',
    ]),
  ),
});

export class ProgressFile implements ProgressStore {
  constructor(
    private readonly path: string,
    private readonly warn: (message: string) => void,
  ) {}

  load(): AgentProgress {
    if (!existsSync(this.path)) return { term: 0, done: [] };
    try {
      const parsed = progressSchema.safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
      if (parsed.success) return parsed.data;
      this.warn(`${this.path} is not an agent progress file (${parsed.error.message}); starting afresh`);
    } catch (error) {
      this.warn(`${this.path} cannot be read (${String(error)}); starting afresh`);
    }
    return { term: 0, done: [] };
  }

  save(progress: AgentProgress): void {
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(progress)}\n`);
    renameSync(temporary, this.path);
  }
}
