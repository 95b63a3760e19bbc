// The port to the agent's progress in the current term (core/agent-rules.ts), kept across restarts. The real
// adapter is agent/progress-file.ts.

import type { AgentProgress } from '../../core/agent-rules.ts';

export interface ProgressStore {
  load(): AgentProgress;
  save(progress: AgentProgress): void;
}
