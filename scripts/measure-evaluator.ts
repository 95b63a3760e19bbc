// npm run measure:evaluator [-- 1 100 1000]: the evaluator's round time, its own CPU and state-table requests
// per cluster, for synthetic healthy clusters (a primary, two standbys, every agent reporting). Prints Markdown
// tables (docs/scaling.md explains them). dynalite runs in a process of its own, so that the CPU counted here
// is the evaluator's alone, every request's SDK work (marshalling, signing, HTTP, parsing) included: that is
// what a Lambda's CPU share must cover. dynalite is slower than DynamoDB per request, so round times on it are
// an upper bound.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Logger } from '@aws-lambda-powertools/logger';
import { systemClock } from '../core/clock.ts';
import { allowNode } from '../core/membership.ts';
import { DEFAULT_CLUSTER_POLICY } from '../core/records.ts';
import { createDocumentClient, StateStore } from '../core/state-store.ts';
import { Evaluator } from '../lambdas/evaluator/evaluator.ts';
import { heartbeat, primaryHeartbeat } from '../test/support/fixtures.ts';

const ROUNDS = 5;

async function measure(store: StateStore, counter: { reads: number; writes: number }, clusters: number) {
  const prefix = `m${clusters}-`;
  const nowMs = Date.now();
  for (let index = 0; index < clusters; index++) {
    const name = `${prefix}${index}`;
    await store.initCluster({ cluster: name, policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' }, nowMs);
    await store.updateMembership(
      name,
      (m) => ['db1', 'db2', 'db3'].reduce((current, nodeId) => allowNode(current, { nodeId, address: nodeId }), m),
      nowMs,
    );
    // The test suite's record builders: a primary streaming to two standbys that can reach it.
    await store.putHeartbeat(primaryHeartbeat('db1', '0/5000000', ['db2', 'db3'], { cluster: name, sentAtMs: nowMs }));
    for (const nodeId of ['db2', 'db3'])
      await store.putHeartbeat(
        heartbeat(nodeId, {
          cluster: name,
          sentAtMs: nowMs,
          primaryCheck: { primaryNodeId: 'db1', status: 'UP', reason: '' },
        }),
      );
  }
  const evaluator = new Evaluator({
    store,
    moverFor: () => ({ moveTo: async () => undefined }),
    notifier: { notify: async () => undefined },
    clock: systemClock,
    logger: new Logger({ logLevel: 'SILENT' }),
    actor: 'measure',
  });
  const all = (await store.listClusters()).length;
  counter.reads = 0;
  counter.writes = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) await evaluator.evaluateAll();
  const roundMs = (performance.now() - started) / ROUNDS;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    clusters: all,
    roundMs,
    cpuMsPerClusterRound: (cpu.user + cpu.system) / 1000 / ROUNDS / all,
    readsPerClusterRound: counter.reads / ROUNDS / all,
    writesPerClusterRound: counter.writes / ROUNDS / all,
  };
}

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
// dynalite in a child process: its CPU is not the evaluator's.
const storeProcess = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    "import dynalite from 'dynalite'; const s = dynalite({ createTableMs: 0 }); s.listen(0, '127.0.0.1', () => console.log(s.address().port));",
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise<string>((resolve, reject) => {
  storeProcess.once('exit', (code) => reject(new Error(`dynalite exited (${code}) before it listened`)));
  createInterface({ input: storeProcess.stdout }).once('line', resolve);
});
const endpoint = `http://127.0.0.1:${port}`;
const counter = { reads: 0, writes: 0 };
const documents = createDocumentClient({ endpoint, region: 'local' });
documents.middlewareStack.add(
  (next, context) => async (args) => {
    const name = context.commandName ?? '';
    if (/^(Get|Query|Scan|BatchGet)/.test(name)) counter.reads++;
    else counter.writes++;
    return next(args);
  },
  { step: 'initialize' },
);
const store = new StateStore(documents, 'pgfailover');
await store.createTableIfMissing();
const rows: string[] = [];
let total = 0;
for (const size of sizes.length ? sizes : [1, 100, 1000]) {
  const result = await measure(store, counter, size - total);
  total = result.clusters;
  // One vCPU is what a 1,769 MB Lambda gets; the evaluator needs this share of one to do every cluster each second.
  const vcpuPerSecond = (result.cpuMsPerClusterRound * result.clusters) / 1000;
  rows.push(
    `| ${result.clusters} | ${result.roundMs.toFixed(0)} ms | ${result.cpuMsPerClusterRound.toFixed(2)} ms | ${vcpuPerSecond.toFixed(3)} | ${result.readsPerClusterRound.toFixed(2)} | ${result.writesPerClusterRound.toFixed(2)} |`,
  );
  process.stderr.write(`${rows.at(-1)}\n`);
}
// The same clusters again, served from memory after DYNAMO_LATENCY_MS (a consistent Query of a small
// partition on DynamoDB): the round time the evaluator itself can reach, and its own CPU per cluster,
// without dynalite's CPU in the same process. Heartbeats advance on every read, as live agents' would.
const DYNAMO_LATENCY_MS = 5;
const names = await store.listClusters();
const snapshots = new Map(
  await Promise.all(names.map(async (name) => [name, await store.readSnapshot(name)] as const)),
);
const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), DYNAMO_LATENCY_MS));
let reads = 0;
let writes = 0;
const memory: ConstructorParameters<typeof Evaluator>[0]['store'] = {
  readSnapshot: (name) => {
    reads++;
    const snapshot = snapshots.get(name);
    if (!snapshot) throw new Error(`no cluster ${name}`);
    const nowMs = Date.now();
    const fresh = {
      ...snapshot,
      heartbeats: snapshot.heartbeats.map((beat) => ({ ...beat, seq: beat.seq + reads, sentAtMs: nowMs })),
    };
    return later(fresh);
  },
  getCluster: (name) => later(snapshots.get(name)?.cluster),
  // A decision is kept, as the table would keep it, so that it is not made again every round.
  writeCluster: async (record) => {
    writes++;
    const snapshot = snapshots.get(record.cluster);
    if (snapshot) snapshots.set(record.cluster, { ...snapshot, cluster: record });
    return later(undefined);
  },
  recordAddressHolder: async () => void writes++,
  recordNodeStopped: async () => void writes++,
  appendHistory: async () => void writes++,
  listClusters: () => (reads++, later(names)),
  claimEvaluation: async () => undefined,
  evaluationOwner: () => (reads++, later(undefined)),
};
const latencyRows: string[] = [];
for (const size of (sizes.length ? sizes : [1, 100, 1000]).filter((n) => n <= names.length)) {
  const subset = new Set(names.slice(0, size));
  const evaluator = new Evaluator({
    store: { ...memory, listClusters: () => later(names.filter((name) => subset.has(name))) },
    moverFor: () => ({ moveTo: async () => undefined }),
    notifier: { notify: async () => undefined },
    clock: systemClock,
    logger: new Logger({ logLevel: 'SILENT' }),
    actor: 'measure',
  });
  await evaluator.evaluateAll(); // warm-up: first observations
  writes = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) await evaluator.evaluateAll();
  const roundMs = (performance.now() - started) / ROUNDS;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMsPerCluster = (cpu.user + cpu.system) / 1000 / ROUNDS / size;
  latencyRows.push(
    `| ${size} | ${roundMs.toFixed(0)} ms | ${cpuMsPerCluster.toFixed(2)} ms | ${(writes / ROUNDS / size).toFixed(2)} |`,
  );
  process.stderr.write(`${latencyRows.at(-1)}\n`);
}
process.stdout.write(
  [
    '| clusters | round time (dynalite) | evaluator CPU per cluster per round | vCPU to do them all every second | reads per cluster per round | writes per cluster per round |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `The decision logic alone, with the store answering from memory after ${DYNAMO_LATENCY_MS} ms (DynamoDB's latency for a small consistent Query) and no requests made:`,
    '',
    '| clusters | round time | decision CPU per cluster per round | writes per cluster per round |',
    '| --- | --- | --- | --- |',
    ...latencyRows,
  ].join('\n') + '\n',
);
storeProcess.kill();
