// How the agent, the Lambdas and the CLI connect to the state table: DynamoDB itself, or the local mode's
// dynalite over HTTP or through a Unix socket; with a per-request timeout so that a hung store fails fast.

import { Agent as HttpAgent } from 'node:http';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { logRequestsFromEnvironment } from './request-log.ts';

export interface StoreConnection {
  table: string;
  region?: string | undefined;
  /** dynalite (local mode, tests): http://host:port, or unix:///path for its socket; unset for DynamoDB itself. */
  endpoint?: string | undefined;
  /** Per-request timeout, so a hung connection cannot stall a heartbeat loop. */
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

/**
 * An HTTP agent that reaches the server through a Unix socket: how tools outside the local mode's
 * network lab reach the state store inside it (a socket file crosses network namespaces; no route does).
 */
class UnixSocketAgent extends HttpAgent {
  constructor(private readonly socketPath: string) {
    super({ keepAlive: true });
  }

  override createConnection(): Duplex {
    return createConnection(this.socketPath);
  }
}

/** "unix:///path/to/store.sock" names a local-mode store reached through its socket. */
const UNIX_ENDPOINT = /^unix:\/\/(\/.+)$/;

export function createDocumentClient(connection: Omit<StoreConnection, 'table'>): DynamoDBDocumentClient {
  const socketPath = connection.endpoint ? UNIX_ENDPOINT.exec(connection.endpoint)?.[1] : undefined;
  const client = new DynamoDBClient({
    region: connection.region ?? process.env.AWS_REGION ?? (connection.endpoint ? 'local' : undefined),
    ...(connection.endpoint
      ? {
          endpoint: socketPath ? 'http://localhost' : connection.endpoint,
          // dynalite checks that a signature is present, not whose it is.
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
    maxAttempts: connection.maxAttempts ?? 3,
    // A hung store must fail the request, not just log a warning: heartbeats, leases and decisions
    // all depend on hearing "no" in time.
    requestHandler: {
      requestTimeout: connection.requestTimeoutMs ?? 3000,
      connectionTimeout: connection.requestTimeoutMs ?? 3000,
      throwOnRequestTimeout: true,
      ...(socketPath ? { httpAgent: new UnixSocketAgent(socketPath) } : {}),
    },
  });
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  logRequestsFromEnvironment(documents);
  return documents;
}
