// The local mode's state store: dynalite (an implementation of the DynamoDB API) on a loopback port,
// run as its own process so that the cluster keeps running after `pgfailover local up` returns.

import dynalite from 'dynalite';

const portArgument = process.argv[2];
const port = Number(portArgument);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write(`usage: store-server PORT (got ${portArgument})\n`);
  process.exit(2);
}
// Tables become ACTIVE at once: the local mode has nothing to simulate there.
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`dynalite listening on 127.0.0.1:${port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
