// Every state-table request the processes of an end-to-end scenario sent (PGFAILOVER_REQUEST_LOG), judged
// against the grants of the principal each runs as on AWS: an agent as its instance role tagged with the
// cluster, the local controller as the evaluator Lambda, the CLI as an administrator. The test process's own
// reads (drills, assertions) are not a principal's and are left out.

import { existsSync, readFileSync } from 'node:fs';
import { deniedRequests, synthesisedPrincipals, type Principal } from './iam-grants.ts';
import type { StoreRequest } from './store-requests.ts';

let principals: Record<string, Principal> | undefined;

/** Which principal a logged program runs as, or undefined for the test harness. */
function principalOf(program: string): string | undefined {
  if (program.includes('pgfailover-agent')) return 'agent';
  if (program.includes('controller')) return 'evaluator';
  if (program.includes('pgfailover.js')) return 'administrator';
  return undefined;
}

/**
 * The requests in `log` that their principal's policies would not allow, each with IAM's verdict; and, lest
 * the check pass on an empty log, a problem too when no agent's or no evaluator's request was logged.
 */
export async function ungrantedRequests(log: string, cluster: string): Promise<string[]> {
  if (!existsSync(log)) return [`no request was logged to ${log}: PGFAILOVER_REQUEST_LOG did not reach the processes`];
  principals ??= synthesisedPrincipals({ addressModes: ['eip', 'secondary-ip'], ec2StopFencing: true });
  const byPrincipal = new Map<string, StoreRequest[]>();
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const { program, ...request } = JSON.parse(line) as StoreRequest & { program: string };
    const name = principalOf(program);
    if (!name) continue;
    const requests = byPrincipal.get(name) ?? [];
    requests.push(request);
    byPrincipal.set(name, requests);
  }
  const problems = ['agent', 'evaluator']
    .filter((name) => !byPrincipal.has(name))
    .map((name) => `no ${name} request was logged to ${log}: the judgement would be empty`);
  for (const [name, requests] of byPrincipal) {
    const found = principals[name];
    if (!found) throw new Error(`no principal ${name} in the synthesised template`);
    const principal = name === 'agent' ? { ...found, tags: { 'pgfailover:cluster': cluster } } : found;
    for (const denied of await deniedRequests(principal, requests))
      problems.push(
        `${name}: ${denied.request.action} on ${denied.request.leadingKeys.join(',') || 'the table'}: ${denied.result}`,
      );
  }
  return problems;
}
