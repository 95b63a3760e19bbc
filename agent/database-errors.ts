// What a failed connection or query to PostgreSQL means: a refusal the DBA must fix (the server is alive),
// a failure (no answer), or, for a peer, an answer at all.

import type { ProbeOutcome } from '../core/local-health.ts';
import type { DatabaseTarget, ProbeResult } from './database-probe.ts';

/** An error from a peer's server means it answered; only no answer or "starting/shutting down" does not. */
export function reachability(error: unknown, target: DatabaseTarget): ProbeOutcome {
  const result = classify(error, target);
  const code = errorCode(error);
  return result.kind === 'refused' || (/^[0-9A-Z]{5}$/.test(code) && code !== '57P03')
    ? { kind: 'ok' }
    : { kind: 'failed', reason: result.kind === 'failed' ? result.reason : '' };
}

// SQLSTATEs meaning "the server is up but will not let this check run": fixing them is the DBA's job,
// and they must not read as a dead database.
const REFUSAL_HINTS: Record<string, string> = {
  '28P01':
    'the password was rejected; check the password source in the agent config (database.passwordEnv / passwordFile / ~/.pgpass) against the role',
  '28000': 'the server refused the login; check pg_hba.conf for a line that lets this role connect from this host',
  '3D000': 'the database does not exist; check database.dbname in the agent config',
  '42501': 'the role lacks a privilege the check needs; grant pg_monitor and the functions listed in docs/agent.md',
  '42883': 'a function the check needs is missing; pgfailover needs PostgreSQL 12 or later',
  // A server that is full is alive and serving: never a reason to call it DOWN and fail it over.
  '53300':
    "the server is alive but has no free connection slot (max_connections); give the agent's role a reserved slot (pg_use_reserved_connections on PostgreSQL 16+, or raise max_connections)",
};

/** A server error's SQLSTATE, or a socket error's code (ECONNREFUSED), or ''. */
function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : '';
}

/** node-postgres' own errors once the server has asked for a password it was not given. */
const CLIENT_AUTH_FAILURE = /^SASL: |client password must be a string/;

export function classify(error: unknown, target: DatabaseTarget): ProbeResult {
  const where = `${target.user}@${target.host}:${target.port}/${target.dbname}`;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const hint = REFUSAL_HINTS[code];
  if (hint) return { kind: 'refused', reason: `${where}: ${message} (SQLSTATE ${code}): ${hint}` };
  // The client gave up during authentication (the server asked for a password this side does not have): the
  // server answered, so it is alive; it is this side's configuration that is wrong, never a DOWN database.
  if (CLIENT_AUTH_FAILURE.test(message))
    return {
      kind: 'refused',
      reason: `${where}: ${message}: the server asks for a password and none is configured (database.passwordFile or database.passwordEnv in the agent config)`,
    };
  if (code === 'ECONNREFUSED')
    return {
      kind: 'failed',
      reason: `connection refused at ${target.host}:${target.port}: PostgreSQL is not accepting connections`,
    };
  return { kind: 'failed', reason: `${where}: ${message}${code ? ` (${code})` : ''}` };
}
