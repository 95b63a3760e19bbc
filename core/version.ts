import { readFileSync } from 'node:fs';

/** The package version, reported in heartbeats so that mixed-version clusters are visible. */
export const PGFAILOVER_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
