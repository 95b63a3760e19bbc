import { readFileSync } from 'node:fs';
import type { DatabaseConfig } from '../core/agent-config.ts';
import { ConfigError } from '../core/errors.ts';

/**
 * The database password from where the config says it lives; never from the config file itself.
 * undefined means "let libpq's rules apply" (~/.pgpass, PGPASSWORD).
 */
export function resolvePassword(database: DatabaseConfig, source: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (database.passwordEnv) {
    const value = env[database.passwordEnv];
    if (value === undefined || value === '') {
      throw new ConfigError(source, [
        `database.passwordEnv: the environment variable ${database.passwordEnv} is not set; set it (for systemd, in the unit's EnvironmentFile) or point passwordEnv at the right variable`,
      ]);
    }
    return value;
  }
  if (database.passwordFile) {
    try {
      return readFileSync(database.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(source, [`database.passwordFile: cannot read ${database.passwordFile}: ${(error as Error).message}`]);
    }
  }
  return undefined;
}
