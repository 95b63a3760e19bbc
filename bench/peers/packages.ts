// The peers come from Debian: installed when missing, as .ci/run installs PostgreSQL.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PACKAGES: Record<string, string> = {
  patroni: 'patroni',
  etcd: 'etcd-server',
  patronictl: 'patroni',
  pg_autoctl: 'postgresql-15-auto-failover',
};

export async function ensurePeerPackages(progress: (line: string) => void): Promise<void> {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(PACKAGES)) {
    try {
      await run('sh', ['-c', `command -v ${program}`]);
    } catch {
      missing.add(pkg);
    }
  }
  if (missing.size === 0) return;
  progress(`installing Debian packages for the peers: ${[...missing].join(' ')}`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
    maxBuffer: 50 * 1024 * 1024,
  });
}
