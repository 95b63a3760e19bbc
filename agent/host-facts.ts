import { hostname, networkInterfaces } from 'node:os';
import type { AgentConfig } from '../core/agent-config.ts';
import type { HeartbeatRecord } from '../core/records.ts';

/** What peers and the address movers need to know about this host. */
export function hostFacts(config: AgentConfig): HeartbeatRecord['host'] {
  return {
    hostname: hostname(),
    address: config.address,
    dbPort: config.database?.port ?? null,
    privateIp: firstPrivateIpv4(),
    instanceId: config.aws.instanceId ?? null,
    eniId: config.aws.eniId ?? null,
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
