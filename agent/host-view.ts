// The host's files, as core/postgres-layout.ts asks about them. `root` prefixes every path: tests and image
// builds look at a tree that is not this machine's (install.sh --root does the same).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostView } from '../core/postgres-layout.ts';

export function hostView(root = '/'): HostView {
  const at = (path: string) => join(root, path);
  const readText = (path: string) => {
    try {
      return readFileSync(at(path), 'utf8');
    } catch {
      return undefined;
    }
  };
  return {
    exists: (path) => existsSync(at(path)),
    list: (path) => {
      try {
        return readdirSync(at(path));
      } catch {
        return [];
      }
    },
    readText,
    ownerName: (path) => {
      try {
        const uid = statSync(at(path)).uid;
        // /etc/passwd: name:x:uid:...; NSS sources beyond it (LDAP) are not read: set postgres.osUser there.
        const line = (readText('/etc/passwd') ?? '').split('\n').find((entry) => entry.split(':')[2] === String(uid));
        return line?.split(':')[0];
      } catch {
        return undefined;
      }
    },
  };
}
