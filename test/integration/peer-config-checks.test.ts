// pgfailover check-config's peer-lease rows, against a real (dynalite) store: what a DBA sees before a restart.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfigChecks } from '../../cli/config-checks.ts';
import { seedCluster, startDynalite, type TestStore } from '../support/dynalite.ts';

let dynalite: TestStore;
let dir: string;

beforeAll(async () => {
  dynalite = await startDynalite('peer-checks');
  dir = mkdtempSync(join(tmpdir(), 'pgfailover-peer-checks-'));
});
afterAll(async () => {
  await dynalite.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A witness of cluster `cluster` (no database to probe), with `peerLeases` as given. */
function witnessConfig(cluster: string, peerLeases?: object): string {
  const path = join(dir, `${cluster}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      cluster,
      nodeId: 'witness',
      role: 'witness',
      address: '10.7.0.99',
      store: { table: 'peer-checks', endpoint: dynalite.endpoint, region: 'local' },
      ...(peerLeases ? { peerLeases } : {}),
    }),
  );
  return path;
}

async function peerRow(cluster: string, policyOn: boolean, peerLeases?: object) {
  // Prepare
  const record = await seedCluster(dynalite.store, cluster, '10.7.0.', {
    extra: [{ nodeId: 'witness', address: '10.7.0.99', role: 'witness' }],
  });
  if (policyOn)
    await dynalite.store.writeCluster(
      { ...record, version: record.version + 1, policy: { ...record.policy, peerLeases: true } },
      { version: record.version, leaseRenewals: record.leaseRenewals },
    );
  // Act
  const checks = await runConfigChecks(witnessConfig(cluster, peerLeases));
  return checks.find((check) => check.name === 'peer leases');
}

describe('check-config: peer leases', () => {
  const key = () => {
    const path = join(dir, 'peer.key');
    writeFileSync(path, 'f'.repeat(64), { mode: 0o600 });
    return path;
  };
  const peers = { db1: '10.7.0.10:7654', db2: '10.7.0.11:7654', db3: '10.7.0.12:7654' };

  it('fails a member without peerLeases in a cluster that has them on', async () => {
    expect(await peerRow('p1', true)).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/no "peerLeases"/),
    });
  });

  it('says nothing where neither has them', async () => {
    expect(await peerRow('p2', false)).toBeUndefined();
  });

  it('fails a key file that cannot be read, or is too short, saying how to make one', async () => {
    expect(await peerRow('p3', true, { peers, keyFile: join(dir, 'missing.key') })).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/cannot read/),
    });
    const short = join(dir, 'short.key');
    writeFileSync(short, 'abc');
    expect(await peerRow('p4', true, { peers, keyFile: short })).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/holds 3 characters; use at least 32 \(openssl rand -hex 32\)/),
    });
  });

  it('warns of a voting member not listed in peers', async () => {
    const { db3: _db3, ...two } = peers;
    expect(await peerRow('p5', true, { peers: two, keyFile: key() })).toMatchObject({
      status: 'WARN',
      detail: expect.stringMatching(/^db3 is not in peerLeases.peers/),
    });
  });

  it('passes a complete section, and says whether the policy has them on', async () => {
    expect(await peerRow('p6', true, { peers, keyFile: key() })).toMatchObject({
      status: 'OK',
      detail: expect.stringMatching(/3 members listed; on in the policy/),
    });
    expect(await peerRow('p7', false, { peers, keyFile: key() })).toMatchObject({
      status: 'OK',
      detail: expect.stringMatching(/off in the policy/),
    });
  });
});
