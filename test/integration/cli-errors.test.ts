// The CLI's exit codes and messages as a monitoring script and a person see them: 0 ok, 1 cluster-status
// found problems, 2 bad input (commander's own errors included), 3 anything else; store failures told as
// what to do, never as the SDK's raw words; an unknown cluster is an error everywhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLUSTER_POLICY } from '../../core/records.ts';
import { runCli } from '../support/cli.ts';
import { startDynalite, type TestStore } from '../support/dynalite.ts';
import { freePort } from '../../cli/local/processes.ts';

let dynamo: TestStore;
beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.store.initCluster({ cluster: 'prod', policy: DEFAULT_CLUSTER_POLICY, primaryNodeId: 'db1' }, Date.now());
});
afterAll(async () => {
  await dynamo.close();
});

const at = () => ['--endpoint', dynamo.endpoint, '--region', 'local'];

describe('exit codes and messages', () => {
  it.each<[string, () => Promise<string[]>, Record<string, string>, number, RegExp]>([
    ['an unknown option (commander)', async () => ['cluster-status', '--bogus'], {}, 2, /unknown option '--bogus'/],
    ['a missing required option (commander)', async () => ['switchover'], {}, 2, /required option '--to <node>' not specified/],
    ['an unknown command (commander)', async () => ['clusterstatus'], {}, 2, /unknown command 'clusterstatus'/],
    ['a cluster that does not exist, for history', async () => ['history', '--cluster', 'prdo', ...at()], {}, 2, /there is no cluster prdo in table pgfailover; it holds prod/],
    ['a cluster that does not exist, for cluster-status', async () => ['cluster-status', '--cluster', 'prdo', ...at()], {}, 2, /there is no cluster prdo/],
    ['a table that does not exist', async () => ['history', '--table', 'pgfailover-typo', ...at()], {}, 2, /table pgfailover-typo does not exist in the store at http:\/\/127\.0\.0\.1:\d+: check --table/],
    ['no region', async () => ['history', '--cluster', 'prod'], { AWS_REGION: '', PGFAILOVER_STORE_ENDPOINT: '' }, 2, /no AWS region is set for the state table: pass --region REGION, set AWS_REGION/],
    ['nothing listening at the endpoint', async () => ['history', '--cluster', 'prod', '--endpoint', `http://127.0.0.1:${await freePort()}`, '--region', 'local'], {}, 3, /nothing answers at the store at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): check --endpoint/],
  ])('%s', async (_name, args, env, code, message) => {
    // Act
    const result = await runCli(await args(), env);
    // Assess
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/Region is missing|Could not load credentials|ResourceNotFoundException/);
  });

  it('--help and --version exit 0', async () => {
    expect((await runCli(['--version'])).code).toBe(0);
    expect((await runCli(['local', '--help'])).code).toBe(0);
  });

  it('a known cluster still works, and history says so when it is empty', async () => {
    const result = await runCli(['history', '--cluster', 'prod', ...at()]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/no history yet/);
  });
});
