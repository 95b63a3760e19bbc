// A node's address as allowed in the membership: "host" or "host:port" ("[v6]:port" for IPv6).
// The port is that of its PostgreSQL server; 5432 when not given.

export interface HostPort {
  host: string;
  port: number;
}

export function parseNodeAddress(address: string, defaultPort = 5432): HostPort {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracketed?.[1]) return { host: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : defaultPort };
  const parts = address.split(':');
  if (parts.length === 2 && /^\d+$/.test(parts[1] ?? '')) return { host: parts[0] ?? address, port: Number(parts[1]) };
  return { host: address, port: defaultPort };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
