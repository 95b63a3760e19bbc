import { readFileSync } from 'node:fs';
import type { DatabaseConfig } from '../core/agent-config.ts';
import { ConfigError } from '../core/errors.ts';

export interface PasswordSources {
  env?: NodeJS.ProcessEnv;
  /** Reads a Secrets Manager secret's string (the agent's instance role grants it). */
  fetchSecret?: (secretId: string) => Promise<string>;
}

/**
 * The database password from where the config says it lives; never from the config file itself.
 * undefined means "let libpq's rules apply" (~/.pgpass, PGPASSWORD).
 */
export async function resolvePassword(
  database: DatabaseConfig,
  source: string,
  sources: PasswordSources = {},
): Promise<string | undefined> {
  const env = sources.env ?? process.env;
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
      throw new ConfigError(source, [
        `database.passwordFile: cannot read ${database.passwordFile}: ${(error as Error).message}`,
      ]);
    }
  }
  if (database.passwordSecret) {
    if (!sources.fetchSecret)
      throw new ConfigError(source, ['database.passwordSecret: no way to reach Secrets Manager here']);
    let secret: string;
    try {
      secret = await sources.fetchSecret(database.passwordSecret);
    } catch (error) {
      throw new ConfigError(source, [
        `database.passwordSecret: cannot read ${database.passwordSecret}: ${(error as Error).message}`,
      ]);
    }
    return passwordFromSecret(secret, database.passwordSecret, source);
  }
  return undefined;
}

/** A secret holds the password itself, or JSON with a "password" key (as RDS-style secrets do). */
function passwordFromSecret(secret: string, secretId: string, source: string): string {
  const text = secret.trim();
  if (!text.startsWith('{')) return secret;
  const parsed: unknown = JSON.parse(text);
  const password =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).password : undefined;
  if (typeof password !== 'string' || password === '')
    throw new ConfigError(source, [`database.passwordSecret: ${secretId} is JSON without a "password" key`]);
  return password;
}
