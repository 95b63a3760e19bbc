// A client inside the network lab (run with `ip netns exec <lab>-app`): commits numbered rows to
// HOST:PORT (cli/local/row-writer.ts) and prints each acknowledged one as a JSON line
// {"id":N,"atMs":T,"host":HOST}. HOST may list several hosts, comma-separated, each with an optional
// :PORT: the writer commits to whichever accepts. Stops on SIGTERM.
// Usage: lab-client HOST PORT PASSWORD_FILE TABLE FIRST_ID

import { readFileSync } from 'node:fs';
import { writeRows } from './row-writer.ts';
import { EXIT } from '../../core/exit-codes.ts';

const [host, portText, passwordFile, table, firstIdText] = process.argv.slice(2);
if (!host || !portText || !passwordFile || !table) {
  process.stderr.write('usage: lab-client HOST PORT PASSWORD_FILE TABLE [FIRST_ID]\n');
  process.exit(EXIT.usage);
}
let running = true;
process.on('SIGTERM', () => (running = false));
process.on('SIGINT', () => (running = false));
await writeRows({
  target: host.split(',').map((entry) => {
    const [name = entry, port = portText] = entry.split(':');
    return { host: name, port: Number(port) };
  }),
  password: readFileSync(passwordFile, 'utf8').trim(),
  table,
  firstId: Number(firstIdText ?? 1),
  running: () => running,
  onAck: (id, atMs) => process.stdout.write(`${JSON.stringify({ id, atMs, host })}\n`),
});
