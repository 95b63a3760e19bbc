// npm run bench:store-outage [-- --outages 30000,600000 --without]: the state store unreachable for every
// member of a lab cluster (three database nodes and a witness, synchronous) for each length, with peer leases
// on (and, with --without, off, for comparison). Measures how long writes through the cluster address were
// unavailable, whether anything changed roles, and what the peer traffic cost each host: its agent's CPU and
// the datagrams it sent and received (/proc/net/snmp of its namespace). Writes docs/store-outage.json and
// prints a table for docs/peer-leases.md.

import { Command, InvalidArgumentError } from 'commander';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterWriter } from '../cli/local/cluster-writer.ts';
import { superuserPassword } from '../cli/local/drill.ts';
import { cut, faultTarget, heal } from '../cli/local/lab-faults.ts';
import { runInNetns } from '../cli/local/lab-network.ts';
import { connectLocalStore, localDown, localUp, sqlTarget } from '../cli/local/local-cluster.ts';
import { superuserQuery } from '../cli/local/superuser-sql.ts';
import { encodeMessage } from '../agent/peer/peer-messages.ts';
import { FootprintSampler } from './footprint.ts';
import { tearDownOnSignals, withTeardown } from './teardown.ts';

interface OutageResult {
  outageMs: number;
  peerLeases: boolean;
  /** Longest time between two acknowledged writes from the cut to the heal (plus the first after it). */
  longestWriteGapMs: number;
  /** Seconds of the outage in which no write was acknowledged (1 s resolution). */
  writeUnavailableMs: number;
  termBefore: number;
  termAfter: number;
  /** Per member: its agent's CPU over the outage, and UDP datagrams a second in and out of its host. */
  perHost: { node: string; cpuPercent: number | null; datagramsInPerS: number; datagramsOutPerS: number }[];
}

const TABLE = 'outage_writes';

/** UDP datagrams received and sent so far in `netns` (per namespace: only that host's). */
async function udpCounters(netns: string): Promise<{ inDatagrams: number; outDatagrams: number }> {
  const snmp = await runInNetns(netns, 'cat', ['/proc/net/snmp']);
  const [header, values] = snmp.split('\n').filter((line) => line.startsWith('Udp:'));
  const names = (header ?? '').split(/\s+/);
  const numbers = (values ?? '').split(/\s+/).map(Number);
  const field = (name: string) => numbers[names.indexOf(name)] ?? 0;
  return { inDatagrams: field('InDatagrams'), outDatagrams: field('OutDatagrams') };
}

async function measure(outageMs: number, peerLeases: boolean, say: (line: string) => void): Promise<OutageResult> {
  const parent = mkdtempSync(join(tmpdir(), 'pgfailover-outage-'));
  chmodSync(parent, 0o755);
  const dir = join(parent, 'cluster');
  const teardown = async () => {
    await localDown(dir, { purge: true }).catch((error: unknown) => say(`teardown: ${String(error)}`));
    rmSync(parent, { recursive: true, force: true });
  };
  return withTeardown(teardown, async () => {
    try {
      say(`${outageMs / 1000} s outage, peer leases ${peerLeases ? 'on' : 'off'}: starting a lab cluster`);
      const state = await localUp({ dir, standbys: 2, witness: true, synchronous: true, peerLeases, network: 'lab' });
      const password = superuserPassword(dir);
      const db1 = state.nodes.find((node) => node.name === 'db1');
      if (!db1) throw new Error('no db1');
      await superuserQuery(sqlTarget(db1), password, `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY)`);
      const writer = clusterWriter(state, dir, TABLE, password);
      writer.start();
      while (writer.acked.length < 20) await sleep(100);
      const store = connectLocalStore(state);
      const termBefore = (await store.getCluster(state.cluster))?.term ?? 0;
      const lab = faultTarget(state);
      const members = state.nodes.map((node) => node.name);
      const before = await Promise.all(state.nodes.map((node) => udpCounters(node.netns ?? '')));
      const sampler = new FootprintSampler(() => state.nodes.map((node) => node.agentPid ?? 0).filter(Boolean));
      sampler.start(1000);
      const cutAtMs = Date.now();
      for (const node of members) await cut(lab, node, 'store');
      say(`  cut every member from the store; waiting ${outageMs / 1000} s`);
      await sleep(outageMs);
      const footprints = sampler.stop();
      const after = await Promise.all(state.nodes.map((node) => udpCounters(node.netns ?? '')));
      const healedAtMs = Date.now();
      await heal(lab);
      // The first write after the heal closes the last gap.
      const count = writer.acked.length;
      const deadline = Date.now() + 60_000;
      while (writer.acked.length === count && Date.now() < deadline) await sleep(50);
      await sleep(5000);
      await writer.stop();
      const termAfter = (await store.getCluster(state.cluster))?.term ?? 0;
      const acks = writer.acked.map((ack) => ack.atMs).filter((at) => at >= cutAtMs);
      const times = [cutAtMs, ...acks];
      const gaps = times.slice(1).map((at, index) => at - (times[index] as number));
      let unavailable = 0;
      for (let at = cutAtMs + 1000; at <= healedAtMs; at += 1000)
        if (!acks.some((ack) => ack > at - 1000 && ack <= at)) unavailable += 1000;
      const seconds = (healedAtMs - cutAtMs) / 1000;
      return {
        outageMs,
        peerLeases,
        longestWriteGapMs: Math.max(0, ...gaps),
        writeUnavailableMs: unavailable,
        termBefore,
        termAfter,
        perHost: state.nodes.map((node, index) => ({
          node: node.name,
          cpuPercent: footprints[index]?.cpuPercent ?? null,
          datagramsInPerS:
            Math.round((((after[index]?.inDatagrams ?? 0) - (before[index]?.inDatagrams ?? 0)) / seconds) * 10) / 10,
          datagramsOutPerS:
            Math.round((((after[index]?.outDatagrams ?? 0) - (before[index]?.outDatagrams ?? 0)) / seconds) * 10) / 10,
        })),
      };
    } finally {
      await teardown();
    }
  });
}

const program = new Command()
  .name('bench:store-outage')
  .option(
    '--outages <ms,...>',
    'outage lengths in ms',
    (value) => {
      const lengths = value.split(',').map(Number);
      if (lengths.some((length) => !Number.isInteger(length) || length < 1000))
        throw new InvalidArgumentError('whole milliseconds, at least 1000 each');
      return lengths;
    },
    [30_000, 600_000],
  )
  .option('--without', 'also measure each outage with peer leases off')
  .option('--out <file>', 'where the results go', 'docs/store-outage.json');
program.parse();
const options = program.opts<{ outages: number[]; without?: boolean; out: string }>();
const say = (line: string) => process.stderr.write(`${line}\n`);
tearDownOnSignals(say);

const results: OutageResult[] = [];
for (const outageMs of options.outages)
  for (const peerLeases of options.without ? [true, false] : [true])
    results.push(await measure(outageMs, peerLeases, say));
// One datagram as the members send it, for the bytes behind the counts (an answer is a little longer).
const askBytes = encodeMessage('k'.repeat(64), {
  kind: 'ask',
  cluster: 'demo',
  from: 'db1',
  to: 'db2',
  term: 1,
  nonce: '0'.repeat(32),
  promiseMs: 2800,
}).length;
writeFileSync(options.out, `${JSON.stringify({ measuredAt: new Date().toISOString(), askBytes, results }, null, 2)}\n`);
for (const result of results)
  process.stdout.write(
    `| ${result.outageMs / 1000} s | ${result.peerLeases ? 'on' : 'off'} | ${result.writeUnavailableMs / 1000} s | ${result.longestWriteGapMs} ms | ${result.termBefore} -> ${result.termAfter} | ${result.perHost.map((host) => `${host.node} ${host.cpuPercent ?? '?'} % CPU, ${host.datagramsOutPerS}/${host.datagramsInPerS} datagrams/s out/in`).join('; ')} |\n`,
  );
process.stdout.write(`one ask is ${askBytes} bytes of UDP payload\n`);
