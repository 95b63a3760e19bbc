// How Node runs the agent on a database host: the release bundle's first line (env -S) and the local mode
// pass these. Measured on the lab's idle cluster (docs/benchmarks.md): the agent's resident memory goes from
// about 95 MB to about 75 MB, at no measurable CPU cost. The agent's heap stays near 17 MB, so a young
// generation of 1 MB semi-spaces (V8's default is 16 MB) only means more, smaller scavenges; one V8
// platform worker thread is plenty for a process that is idle most of the time. --expose-gc lets the agent
// collect its heap in full once a minute (agent/heap-trim.ts). Tried and left out: --optimize-for-size
// (the heap stays as small, but the primary's CPU at rest went from 0.85 to 1.1 % of a core) and
// --heap-growing-percent (V8 still lets the old generation grow by 8 MB at least).

export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--expose-gc'];

/**
 * glibc gives each thread its own malloc arena (up to 8 per core) and keeps their pages: two are enough for
 * a mostly single-threaded process. Set by the systemd unit and the local mode.
 */
export const AGENT_ENVIRONMENT = { MALLOC_ARENA_MAX: '2' };
