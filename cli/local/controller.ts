// The local mode's controller process: the same evaluator the Lambda runs, on a one-second timer, with
// the local address forwarder as its mover and a JSON-lines file (plus an optional webhook) as its
// notifier. `pgfailover local up` starts it; `local down` stops it.

import { Logger } from '@aws-lambda-powertools/logger';
import { systemClock } from '../../core/clock.ts';
import { noAddressMover } from '../../core/ports.ts';
import { Evaluator } from '../../lambdas/evaluator/evaluator.ts';
import { LocalAddressForwarder } from './address-forwarder.ts';
import { connectLocalStore, readLocalState } from './local-cluster.ts';
import { fanOut, JsonLinesNotifier, WebhookNotifier } from './notifiers.ts';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: controller DIR\n');
  process.exit(2);
}
const state = readLocalState(dir);
const logger = new Logger({ serviceName: 'pgfailover-local-controller', persistentKeys: { cluster: state.cluster } });
const forwarder = new LocalAddressForwarder(state.addressPort);
await forwarder.listen();
const notifier = fanOut([new JsonLinesNotifier(state.notificationsFile, systemClock), ...(state.webhookUrl ? [new WebhookNotifier(state.webhookUrl)] : [])]);
const evaluator = new Evaluator({
  store: connectLocalStore(state),
  moverFor: (cluster) => (cluster.address.mode === 'local' ? forwarder : noAddressMover),
  notifier,
  clock: systemClock,
  logger,
  actor: `local-controller:${process.pid}`,
});
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
logger.info(`controller running: address 127.0.0.1:${state.addressPort}, notifications in ${state.notificationsFile}`);
await evaluator.runUntil(Number.POSITIVE_INFINITY, 1000, stop.signal);
await forwarder.close();
logger.info('controller stopped');
process.exit(0);
