// IMDSv2 as the agent reads it, against an HTTP server on loopback that behaves like the metadata service.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInstanceMetadata } from '../../agent/instance-metadata.ts';

const TOKEN = 'token-123';
const paths: Record<string, string> = {
  '/latest/meta-data/instance-id': 'i-0abc123',
  '/latest/meta-data/mac': '0a:1b:2c:3d:4e:5f',
  '/latest/meta-data/local-ipv4': '10.0.1.10',
  '/latest/meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/interface-id': 'eni-0abc123',
  '/latest/meta-data/network/interfaces/macs/0a:1b:2c:3d:4e:5f/subnet-id': 'subnet-0abc123',
};
const seen: string[] = [];
let server: Server;
let endpoint = '';

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    if (request.method === 'PUT' && request.url === '/latest/api/token') {
      if (request.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined)
        return void response.writeHead(400).end();
      return void response.writeHead(200).end(TOKEN);
    }
    // IMDSv2 only: a read without the session token is refused.
    if (request.headers['x-aws-ec2-metadata-token'] !== TOKEN) return void response.writeHead(401).end();
    const body = paths[request.url ?? ''];
    if (body === undefined) return void response.writeHead(404).end();
    response.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('instance metadata (IMDSv2)', () => {
  it('takes a session token, then reads the instance, its primary ENI, subnet and private IP', async () => {
    // Act
    const facts = await readInstanceMetadata(endpoint);
    // Assess
    expect(facts).toEqual({
      instanceId: 'i-0abc123',
      eniId: 'eni-0abc123',
      subnetId: 'subnet-0abc123',
      privateIp: '10.0.1.10',
    });
    expect(seen[0]).toBe('PUT /latest/api/token');
  });

  it('fails quickly, with the reason, where there is no metadata service', async () => {
    await expect(readInstanceMetadata('http://127.0.0.1:9', 500)).rejects.toThrow();
    await expect(
      readInstanceMetadata(endpoint, 500, async (url, init) =>
        fetch(String(url).replace('/latest/api/token', '/nope'), init),
      ),
    ).rejects.toThrow(/IMDSv2 refused a session token/);
  });
});
