// The grants the agent's database role needs, and nothing more (EFM's list, brought to PostgreSQL 15).
// The local mode applies them; docs/agent.md shows them for a DBA to run by hand.

export function monitoringRoleGrants(role: string): string[] {
  const quoted = `"${role.replaceAll('"', '""')}"`;
  return [
    // pg_monitor: pg_stat_replication and pg_stat_wal_receiver with every column, pg_control_checkpoint().
    `GRANT pg_monitor TO ${quoted}`,
    `GRANT EXECUTE ON FUNCTION pg_current_wal_lsn() TO ${quoted}`,
    `GRANT EXECUTE ON FUNCTION pg_last_wal_replay_lsn() TO ${quoted}`,
    `GRANT EXECUTE ON FUNCTION pg_wal_replay_pause() TO ${quoted}`,
    `GRANT EXECUTE ON FUNCTION pg_wal_replay_resume() TO ${quoted}`,
    `GRANT EXECUTE ON FUNCTION pg_reload_conf() TO ${quoted}`,
    // Promotion and repointing run through the agent's own role rather than a superuser login.
    `GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO ${quoted}`,
    `GRANT ALTER SYSTEM ON PARAMETER primary_conninfo TO ${quoted}`,
  ];
}
