// npm run build: the agent, the administrator's CLI and the Lambda handlers as plain JavaScript bundles
// (esbuild) for Node.js 22, with every dependency inside: a database host runs them with no compiler and no
// node_modules. Then the release tarball a host installs (release/install.sh): docs/install-agent.md.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { AGENT_NODE_FLAGS } from '../agent/runtime-flags.ts';
import { BUNDLE, PACKAGE_VERSION } from '../infra/bundle-options.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const version = PACKAGE_VERSION;

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: BUNDLE.target,
  format: BUNDLE.format,
  sourcemap: BUNDLE.sourcemap,
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: BUNDLE.banner },
  external: BUNDLE.external,
  define: BUNDLE.define,
};

/** The programs a host runs, and the Lambda handlers (the CDK stack bundles the same entries itself). */
const ENTRIES: Record<string, string> = {
  'bin/pgfailover-agent.mjs': 'agent/main.ts',
  'bin/pgfailover.mjs': 'cli/admin.ts',
  'lambdas/evaluator/index.mjs': 'lambdas/evaluator/index.ts',
  'lambdas/switchover/index.mjs': 'lambdas/switchover/index.ts',
  'lambdas/slack/index.mjs': 'lambdas/slack/index.ts',
};

/** The agent runs with its memory flags (env -S splits them; coreutils 8.30+, every supported distribution). */
function shebang(out: string): string {
  return out === 'bin/pgfailover-agent.mjs'
    ? `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(' ')}`
    : '#!/usr/bin/env node';
}

export async function buildBundles(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  const bundled = new Set<string>();
  for (const [out, entry] of Object.entries(ENTRIES)) {
    const result = await build({
      ...common,
      entryPoints: [join(root, entry)],
      outfile: join(dist, out),
      metafile: true,
      ...(out.startsWith('bin/') ? { banner: { js: `${shebang(out)}\n${common.banner?.js ?? ''}` } } : {}),
    });
    asciiOnly(join(dist, out));
    if (out.startsWith('bin/')) chmodSync(join(dist, out), 0o755);
    for (const input of Object.keys(result.metafile.inputs)) {
      const found = packageDirOf(input);
      if (found) bundled.add(found);
    }
  }
  // The bundles drop the dependencies' licence comments (legalComments: none): their licences travel here.
  writeFileSync(join(dist, 'THIRD_PARTY_NOTICES'), thirdPartyNotices([...bundled]));
}

/** node_modules/@scope/name/... or node_modules/name/... -> that package's directory. */
function packageDirOf(input: string): string | undefined {
  const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return match ? join(root, match[1] as string) : undefined;
}

/** Each bundled package's name, version, licence and licence text, sorted by name. */
function thirdPartyNotices(packageDirs: string[]): string {
  const entries = packageDirs
    .map((dir) => {
      const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
        license?: string;
      };
      const licenceFile = readdirSync(dir).find((file) => /^(licen[cs]e|copying)(\.|$)/i.test(file));
      const text = licenceFile
        ? readFileSync(join(dir, licenceFile), 'utf8').trim()
        : '(no licence file in the package)';
      return { id: `${meta.name}@${meta.version}`, licence: meta.license ?? 'UNKNOWN', text };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
  const header = `pgfailover ${version} bundles the following packages into its programs and functions.\n`;
  return [
    header,
    ...entries.map((entry) => `${'='.repeat(78)}\n${entry.id} (${entry.licence})\n\n${entry.text}\n`),
  ].join('\n');
}

/**
 * esbuild escapes every non-ASCII character in code but keeps a few dependency comments as they are (an em
 * dash in zod, a Catalan word in its locales). One such character makes V8 hold the whole 2.7 MB source as
 * a two-byte string: 2.7 MB more heap in every agent. Each is replaced by '?', one UTF-16 unit for one, so
 * the source map's columns still hold.
 */
function asciiOnly(file: string): void {
  const text = readFileSync(file, 'utf8');
  // eslint-disable-next-line no-control-regex -- the ASCII range, spelled out
  const ascii = text.replace(/[^\x00-\x7f]/g, '?');
  if (ascii !== text) writeFileSync(file, ascii);
}

/** dist/pgfailover-VERSION.tar.gz: the two programs, the systemd units, the install and uninstall scripts, the licences. */
export function buildRelease(): string {
  const name = `pgfailover-${version}`;
  const stage = join(dist, 'release', name);
  rmSync(join(dist, 'release'), { recursive: true, force: true });
  for (const dir of ['bin', 'systemd']) mkdirSync(join(stage, dir), { recursive: true });
  for (const program of ['pgfailover-agent.mjs', 'pgfailover.mjs']) {
    copyFileSync(join(dist, 'bin', program), join(stage, 'bin', program));
    copyFileSync(join(dist, 'bin', `${program}.map`), join(stage, 'bin', `${program}.map`));
    chmodSync(join(stage, 'bin', program), 0o755);
  }
  copyFileSync(join(root, 'agent/systemd/pgfailover-agent.service'), join(stage, 'systemd/pgfailover-agent.service'));
  copyFileSync(
    join(root, 'agent/systemd/postgresql-after-pgfailover.conf'),
    join(stage, 'systemd/postgresql-after-pgfailover.conf'),
  );
  for (const script of ['install.sh', 'uninstall.sh']) {
    copyFileSync(join(root, 'release', script), join(stage, script));
    chmodSync(join(stage, script), 0o755);
  }
  copyFileSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
  copyFileSync(join(dist, 'THIRD_PARTY_NOTICES'), join(stage, 'THIRD_PARTY_NOTICES'));
  writeFileSync(join(stage, 'VERSION'), `${version}\n`);
  const tarball = join(dist, `${name}.tar.gz`);
  execFileSync('tar', ['-C', join(dist, 'release'), '-czf', tarball, name]);
  return tarball;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundles();
  const tarball = buildRelease();
  process.stdout.write(`built dist/bin, dist/lambdas and ${tarball}\n`);
}
