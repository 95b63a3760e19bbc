// The local mode's controller process: the same evaluator the Lambda runs, on a one-second timer, with
// the lab's router (or, on loopback, the local address forwarder) as its mover and a JSON-lines file (plus an optional webhook) as its
// notifier. `pgfailover local up` starts it; `local down` stops it.

import { Logger } from '@aws-lambda-powertools/logger';
import { systemClock } from '../../core/clock.ts';
import { noAddressMover, type AddressMover } from '../../core/ports.ts';
import { EVALUATION_PERIOD_MS, Evaluator } from '../../lambdas/evaluator/evaluator.ts';
import { readFileSync } from 'node:fs';
import { LocalAddressForwarder, TcpForwarder } from './address-forwarder.ts';
import { clusterAddress, connectLocalStore, readLocalState } from './local-cluster.ts';
import { LabAddressMover } from './lab-address-mover.ts';
import { LabInstanceStopper } from './lab-instance-stopper.ts';
import { StateStore } from '../../core/state-store.ts';
import { fanOut, JsonLinesNotifier, WebhookNotifier } from './notifiers.ts';
import { EXIT } from '../../core/exit-codes.ts';
import { sleepMs } from '../../core/deadline.ts';

/** The Lambda runs 65 s of a 70 s timeout on a one-minute schedule: each invocation overlaps the next by 5 s. */
const INVOCATION_OVERLAP_MS = 5000;

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: controller DIR\n');
  process.exit(EXIT.usage);
}
const state = readLocalState(dir);
const logger = new Logger({ serviceName: 'pgfailover-local-controller', persistentKeys: { cluster: state.cluster } });
// The network. Lab: the router moves the cluster address; cuts are iptables rules there, not ours.
// Loopback: each node's database and store access go through a link a drill can cut.
const links = new Map<string, TcpForwarder[]>();
let addressForwarder: TcpForwarder | undefined;
let mover: AddressMover;
let watchLinks: NodeJS.Timeout | undefined;
const lab = state.lab;
if (lab) {
  mover = new LabAddressMover(lab.routerNetns, lab.address);
} else {
  const storePort = Number(new URL(state.storeEndpoint).port);
  for (const node of state.nodes) {
    const nodeLinks = node.storeLinkPort
      ? [new TcpForwarder(node.storeLinkPort, { host: '127.0.0.1', port: storePort })]
      : [];
    if (node.linkPort && node.port)
      nodeLinks.push(new TcpForwarder(node.linkPort, { host: '127.0.0.1', port: node.port }));
    for (const link of nodeLinks) await link.listen();
    links.set(node.name, nodeLinks);
  }
  addressForwarder = new TcpForwarder(state.addressPort ?? 0);
  await addressForwarder.listen();
  mover = new LocalAddressForwarder(addressForwarder);
  let lastIsolated = '';
  watchLinks = setInterval(() => {
    let isolated: string[] = [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(state.linksFile, 'utf8'));
      const list =
        typeof parsed === 'object' && parsed !== null && 'isolated' in parsed
          ? (parsed as { isolated: unknown }).isolated
          : [];
      isolated = Array.isArray(list) ? list.filter((name): name is string => typeof name === 'string') : [];
    } catch {
      isolated = [];
    }
    const key = isolated.join(',');
    if (key === lastIsolated) return;
    lastIsolated = key;
    for (const [name, nodeLinks] of links) for (const link of nodeLinks) link.setCut(isolated.includes(name));
    logger.warn(`links cut for: ${key || 'nobody'}`);
  }, 100);
}
const notifier = fanOut([
  new JsonLinesNotifier(state.notificationsFile, systemClock),
  ...(state.webhookUrl ? [new WebhookNotifier(state.webhookUrl)] : []),
]);
// In the lab the evaluator reaches the store inside its own namespace, as the Lambda reaches DynamoDB. One
// client for every invocation, as a Lambda container keeps its module's client.
const store = lab
  ? StateStore.connect({ table: state.table, endpoint: `http://${lab.awsIp}:8000`, region: 'local' })
  : connectLocalStore(state);
const evaluatorFor = (actor: string) =>
  new Evaluator({
    store,
    moverFor: (cluster) =>
      cluster.address.mode === 'local' || cluster.address.mode === 'secondary-ip' ? mover : noAddressMover,
    // The lab's stand-in for stopping an instance; on loopback there is no instance to stop.
    ...(lab ? { fencerFor: () => new LabInstanceStopper(state) } : {}),
    notifier,
    clock: systemClock,
    logger,
    actor,
  });
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
logger.info(`controller running: address ${clusterAddress(state)}, notifications in ${state.notificationsFile}`);
await runEvaluator();
clearInterval(watchLinks);
await addressForwarder?.close();
for (const nodeLinks of links.values()) for (const link of nodeLinks) await link.close();
logger.info('controller stopped');
process.exit(EXIT.ok);

/**
 * One evaluator for good, or (evaluatorInvocationMs) one invocation after another as EventBridge starts the
 * Lambda: a new one every period, each running 5 s into the next, so that drills and the bench meet handovers.
 */
async function runEvaluator(): Promise<void> {
  const everyMs = state.evaluatorInvocationMs;
  if (!everyMs) {
    await evaluatorFor(`local-controller:${process.pid}`).runUntil(
      Number.POSITIVE_INFINITY,
      EVALUATION_PERIOD_MS,
      stop.signal,
    );
    return;
  }
  const running = new Set<Promise<unknown>>();
  for (let invocation = 1; !stop.signal.aborted; invocation++) {
    const deadlineMonoMs = systemClock.monotonicMs() + everyMs + INVOCATION_OVERLAP_MS;
    const run = evaluatorFor(`local-controller:${process.pid}:${invocation}`)
      .runUntil(deadlineMonoMs, EVALUATION_PERIOD_MS, stop.signal)
      .catch((error: unknown) => logger.error('an evaluator invocation failed', { error: String(error) }));
    running.add(run);
    void run.finally(() => running.delete(run));
    await sleepMs(everyMs, stop.signal);
  }
  await Promise.all(running);
}
