// The grants of the synthesised stack, per principal, and an offline IAM evaluation of recorded requests
// against them (@cloud-copilot/iam-simulate): a request the policies would deny on AWS fails here. dynalite
// checks no permissions and a mocked client asserts only what is sent; this checks what is allowed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { PgFailover, type PgFailoverProps } from '../../infra/pgfailover.ts';
import type { StoreRequest } from './store-requests.ts';

/** moto's default account, so that what the emulator creates is in the same account as the principals. */
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/pgfailover`;

type Json = unknown;
interface PolicyDocument {
  Version?: string;
  Statement: Json[];
}
export interface Principal {
  name: string;
  arn: string;
  policies: { name: string; policy: PolicyDocument }[];
  /** The principal's tags (aws:PrincipalTag/KEY in conditions): an instance role's pgfailover:cluster. */
  tags?: Record<string, string>;
}

/** CloudFormation's intrinsic functions, resolved to what they would be in one account and region. */
function resolver(resources: Record<string, { Type: string; Properties?: Record<string, Json> }>) {
  const arnOf = (id: string): string => {
    const resource = resources[id];
    switch (resource?.Type) {
      case 'AWS::DynamoDB::Table':
        return TABLE_ARN;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${ACCOUNT}:role/${id}`;
      default:
        return `arn:aws:unresolved:${REGION}:${ACCOUNT}:${id}`;
    }
  };
  const resolve = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, Json>;
    if ('Ref' in object) {
      const ref = String(object.Ref);
      return (
        {
          'AWS::Partition': 'aws',
          'AWS::Region': REGION,
          'AWS::AccountId': ACCOUNT,
          'AWS::URLSuffix': 'amazonaws.com',
        }[ref] ?? arnOf(ref)
      );
    }
    if ('Fn::GetAtt' in object) return arnOf(String((object['Fn::GetAtt'] as Json[])[0]));
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, Json[]];
      return parts.map((part) => String(resolve(part))).join(separator);
    }
    return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, resolve(inner)]));
  };
  return resolve;
}

/** The stack's principals as the code acts: each function's role, the agents' and the operators' policies. */
export function synthesisedPrincipals(props: Partial<PgFailoverProps> = {}): Record<string, Principal> {
  const outdir = mkdtempSync(join(tmpdir(), 'pgfailover-grants-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Grants', { env: { account: ACCOUNT, region: REGION } });
    new PgFailover(stack, 'PgFailover', { clusters: ['prod', 'reporting'], ...props });
    const resources = Template.fromStack(stack).toJSON().Resources as Record<
      string,
      { Type: string; Properties?: Record<string, Json> }
    >;
    const resolve = resolver(resources);
    const principals: Record<string, Principal> = {};
    const inlineFor = (roleId: string) =>
      Object.entries(resources)
        .filter(
          ([, r]) =>
            r.Type === 'AWS::IAM::Policy' &&
            (r.Properties?.Roles as Json[] | undefined)?.some((role) => (role as { Ref?: string }).Ref === roleId),
        )
        .map(([id, r]) => ({ name: id, policy: resolve(r.Properties?.PolicyDocument) as PolicyDocument }));
    for (const [, fn] of Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
      const description = String(fn.Properties?.Description ?? '');
      const match = /^pgfailover (evaluator|switchover)|^pgfailover: posts alerts to (Slack)/.exec(description);
      const name = (match?.[1] ?? match?.[2])?.toLowerCase();
      if (!name) continue;
      const roleId = String(((fn.Properties?.Role as Record<string, Json[]>)['Fn::GetAtt'] as Json[])[0]);
      principals[name] = { name, arn: `arn:aws:iam::${ACCOUNT}:role/${roleId}`, policies: inlineFor(roleId) };
    }
    for (const [id, policy] of Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy')) {
      const description = String(policy.Properties?.Description ?? '');
      const name = description.startsWith('pgfailover agents')
        ? 'agent'
        : description.startsWith('pgfailover operators')
          ? 'operator'
          : description.startsWith('pgfailover administrators')
            ? 'administrator'
            : id;
      principals[name] = {
        name,
        arn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
        policies: [{ name: id, policy: resolve(policy.Properties?.PolicyDocument) as PolicyDocument }],
      };
    }
    return principals;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** One request as IAM judges it: an action on one resource, with the request's condition keys. */
export interface IamRequest {
  action: string;
  /** The resource's ARN, or "*" for actions that take none (EC2 Describe*). */
  resource: string;
  context: Record<string, string | string[]>;
}

/** IAM's verdict on `request` by `principal`'s policies: Allowed, ImplicitlyDenied, ExplicitlyDenied, or an error. */
export async function verdict(principal: Principal, request: IamRequest): Promise<string> {
  const response = await runSimulation(
    {
      request: {
        principal: principal.arn,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: {
          ...Object.fromEntries(
            Object.entries(principal.tags ?? {}).map(([key, value]) => [`aws:PrincipalTag/${key}`, value]),
          ),
          ...request.context,
        },
      },
      identityPolicies: principal.policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  return response.resultType === 'error' ? `error: ${JSON.stringify(response.errors)}` : String(response.overallResult);
}

/** Each distinct request that `principal`'s policies would not allow, with IAM's verdict. */
export async function deniedRequests(
  principal: Principal,
  requests: readonly StoreRequest[],
): Promise<{ request: StoreRequest; result: string }[]> {
  const distinct = new Map(requests.map((request) => [JSON.stringify(request), request]));
  const denied: { request: StoreRequest; result: string }[] = [];
  for (const request of distinct.values()) {
    const result = await verdict(principal, {
      action: request.action,
      resource: TABLE_ARN,
      context: request.leadingKeys.length > 0 ? { 'dynamodb:LeadingKeys': request.leadingKeys } : {},
    });
    if (result !== 'Allowed') denied.push({ request, result });
  }
  return denied;
}

/** The ARN of an EC2 resource of this test account. */
export function ec2Arn(type: 'elastic-ip' | 'network-interface' | 'instance' | 'route-table', id: string): string {
  return `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
}
