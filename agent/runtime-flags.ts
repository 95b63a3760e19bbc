// How Node runs the agent on a database host: the release bundle's first line (env -S) and the local mode
// pass these. Measured on the lab's idle cluster (docs/benchmarks.md): the agent's resident memory goes from
// about 95 MB to about 75 MB, at no measurable CPU cost. The agent's heap stays near 15 MB, so a young
// generation of 1 MB semi-spaces (V8's default is 16 MB) only means more, smaller scavenges; one V8
// platform worker thread is plenty for a process that is idle most of the time.

export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];

/**
 * glibc gives each thread its own malloc arena (up to 8 per core) and keeps their pages: two are enough for
 * a mostly single-threaded process. Set by the systemd unit and the local mode.
 */
export const AGENT_ENVIRONMENT = { MALLOC_ARENA_MAX: '2' };
