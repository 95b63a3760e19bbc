import { hostname, networkInterfaces } from 'node:os';
import type { AgentConfig } from '../core/agent-config.ts';
import type { HeartbeatRecord } from '../core/records.ts';
import type { InstanceFacts } from './instance-metadata.ts';

/** What peers and the address movers need to know about this host; instance metadata wins over the config. */
export function hostFacts(config: AgentConfig, instance?: InstanceFacts): HeartbeatRecord['host'] {
  return {
    hostname: hostname(),
    address: config.address,
    dbPort: config.database?.port ?? null,
    privateIp: instance?.privateIp ?? firstPrivateIpv4(),
    instanceId: instance?.instanceId ?? config.aws.instanceId ?? null,
    eniId: instance?.eniId ?? config.aws.eniId ?? null,
    subnetId: instance?.subnetId ?? config.aws.subnetId ?? null,
  };
}

function firstPrivateIpv4(): string | null {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return null;
}
