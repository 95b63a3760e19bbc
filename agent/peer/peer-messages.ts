// What the members say to each other about peer leases, and how a member knows it is another member's word:
// every message is signed with HMAC-SHA256 under the cluster's shared key and names its sender, its
// addressee and its cluster. A message that fails any of that is dropped, never answered.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { nodeIdSchema } from '../../core/records.ts';

const base = {
  cluster: z.string().min(1),
  from: nodeIdSchema,
  to: nodeIdSchema,
  term: z.number().int().nonnegative(),
  /** Fresh per round: an answer counts only for the round it answers. */
  nonce: z.string().min(16).max(64),
  promiseMs: z.number().int().positive().max(600_000),
};

export const peerMessageSchema = z.discriminatedUnion('kind', [
  z.looseObject({ kind: z.literal('ask'), ...base }),
  z.looseObject({ kind: z.literal('answer'), ...base, granted: z.boolean(), reason: z.string().max(500) }),
]);
export type PeerMessage = z.infer<typeof peerMessageSchema>;
export type VouchAsk = Extract<PeerMessage, { kind: 'ask' }>;
export type VouchAnswer = Extract<PeerMessage, { kind: 'answer' }>;

/** The shortest shared key accepted: 256 bits as hex, or a passphrase at least that long. */
export const MIN_KEY_LENGTH = 32;

const wireSchema = z.strictObject({ body: z.string().max(4000), mac: z.string().regex(/^[0-9a-f]{64}$/) });

function mac(key: string, body: string): string {
  return createHmac('sha256', key).update(body).digest('hex');
}

export function encodeMessage(key: string, message: PeerMessage): Buffer {
  const body = JSON.stringify(message);
  return Buffer.from(JSON.stringify({ body, mac: mac(key, body) }));
}

export type Decoded = { ok: true; message: PeerMessage } | { ok: false; problem: string };

/** The message in `datagram`, if it is signed with `key` and addressed to `self` in `cluster`. */
export function decodeMessage(key: string, datagram: Buffer, self: { cluster: string; nodeId: string }): Decoded {
  let wire: z.infer<typeof wireSchema>;
  try {
    wire = wireSchema.parse(JSON.parse(datagram.toString('utf8')));
  } catch {
    return { ok: false, problem: 'not a pgfailover peer message' };
  }
  const expected = Buffer.from(mac(key, wire.body), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(wire.mac, 'hex')))
    return {
      ok: false,
      problem: "bad signature: the sender does not have this cluster's peer key (peerLeases.keyFile)",
    };
  const parsed = peerMessageSchema.safeParse(JSON.parse(wire.body));
  if (!parsed.success) return { ok: false, problem: `signed but not understood: ${parsed.error.message}` };
  const message = parsed.data;
  if (message.cluster !== self.cluster)
    return { ok: false, problem: `for cluster ${message.cluster}, not ${self.cluster}` };
  if (message.to !== self.nodeId) return { ok: false, problem: `addressed to ${message.to}, not ${self.nodeId}` };
  return { ok: true, message };
}
