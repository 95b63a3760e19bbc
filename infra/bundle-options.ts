// How every bundle is built, in one place: the release build (scripts/build.ts) and the stack's Lambda
// functions (infra/pgfailover.ts, through NodejsFunction) use these same esbuild settings.

import { readFileSync } from 'node:fs';

export const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export const BUNDLE = {
  target: 'node22',
  format: 'esm' as const,
  sourcemap: true,
  /** ESM bundles still meet CommonJS inside the AWS SDK and pg. */
  banner:
    "import { createRequire as __pgfCreateRequire } from 'node:module'; const require = __pgfCreateRequire(import.meta.url);",
  /** pg's optional native binding is never used. */
  external: ['pg-native'],
  /** core/version.ts: there is no package.json beside a bundle. */
  define: { __PGFAILOVER_VERSION__: JSON.stringify(PACKAGE_VERSION) },
};
