// The tag that marks an AWS resource as a cluster's own: its database hosts' instances and ENIs, its Elastic IP,
// its route tables. The evaluator acts only on resources that carry it with the cluster's name, and the
// stack's grants allow its mutating EC2 actions only on resources that carry it at all.

export const CLUSTER_TAG = 'pgfailover:cluster';

/** Why acting on a resource with these tags for `cluster` is refused, or undefined when it is the cluster's. */
export function notClustersOwn(
  what: string,
  tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined,
  cluster: string,
): string | undefined {
  const value = tags?.find((tag) => tag.Key === CLUSTER_TAG)?.Value;
  if (value === cluster) return undefined;
  return `${what} is ${value === undefined ? `not tagged ${CLUSTER_TAG}` : `tagged ${CLUSTER_TAG}=${value}`}, not ${CLUSTER_TAG}=${cluster}: pgfailover moves addresses to and stops only the cluster's own resources; if it is one of cluster ${cluster}'s, tag it so`;
}
