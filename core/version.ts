import { readFileSync } from 'node:fs';

/** Set by the release build (scripts/build.ts), where there is no package.json beside the bundle. */
declare const __PGFAILOVER_VERSION__: string | undefined;

/** The package version, reported in heartbeats so that mixed-version clusters are visible. */
export const PGFAILOVER_VERSION: string =
  typeof __PGFAILOVER_VERSION__ === 'string'
    ? __PGFAILOVER_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
