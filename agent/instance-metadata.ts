// EC2 instance metadata (IMDSv2: a session token first, then the reads), for the host facts the address
// movers need: instance id, the primary ENI, its subnet, the private IP. Short timeouts: off EC2 (or with
// IMDS disabled) the agent starts anyway, with what its config says.

export interface InstanceFacts {
  instanceId: string;
  eniId: string;
  subnetId: string;
  privateIp: string;
}

export async function readInstanceMetadata(
  endpoint: string,
  timeoutMs = 1000,
  request: typeof fetch = fetch,
): Promise<InstanceFacts> {
  const base = endpoint.replace(/\/$/, '');
  const tokenResponse = await request(`${base}/latest/api/token`, {
    method: 'PUT',
    headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '300' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!tokenResponse.ok) throw new Error(`IMDSv2 refused a session token (HTTP ${tokenResponse.status})`);
  const token = await tokenResponse.text();
  const get = async (path: string): Promise<string> => {
    const response = await request(`${base}/latest/meta-data/${path}`, {
      headers: { 'X-aws-ec2-metadata-token': token },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`IMDS ${path}: HTTP ${response.status}`);
    return (await response.text()).trim();
  };
  const [instanceId, mac, privateIp] = await Promise.all([get('instance-id'), get('mac'), get('local-ipv4')]);
  const [eniId, subnetId] = await Promise.all([
    get(`network/interfaces/macs/${mac}/interface-id`),
    get(`network/interfaces/macs/${mac}/subnet-id`),
  ]);
  return { instanceId, eniId, subnetId, privateIp };
}
