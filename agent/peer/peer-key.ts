// The cluster's shared peer key, read from peerLeases.keyFile: what the agent signs with, and what
// --check-config reads before a restart rather than after.

import { readFileSync } from 'node:fs';
import { MIN_KEY_LENGTH } from './peer-messages.ts';

export type PeerKey = { ok: true; key: string } | { ok: false; problem: string };

export function readPeerKey(path: string): PeerKey {
  let key: string;
  try {
    key = readFileSync(path, 'utf8').trim();
  } catch (error) {
    return { ok: false, problem: `peerLeases.keyFile: cannot read ${path}: ${(error as Error).message}` };
  }
  return key.length < MIN_KEY_LENGTH
    ? {
        ok: false,
        problem: `peerLeases.keyFile: ${path} holds ${key.length} characters; use at least ${MIN_KEY_LENGTH} (openssl rand -hex 32), the same on every member`,
      }
    : { ok: true, key };
}
