// PostgreSQL WAL positions ("16/B374D848") as 64-bit integers, so that they compare and subtract exactly.

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function isLsn(text: string): boolean {
  return LSN_PATTERN.test(text);
}

export function parseLsn(text: string): bigint {
  const match = LSN_PATTERN.exec(text);
  if (!match || match[1] === undefined || match[2] === undefined) {
    throw new Error(`"${text}" is not a WAL position (expected the form 16/B374D848)`);
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(value: bigint): string {
  const high = (value >> 32n).toString(16).toUpperCase();
  const low = (value & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

export function compareLsn(a: string, b: string): number {
  const difference = parseLsn(a) - parseLsn(b);
  return difference === 0n ? 0 : difference > 0n ? 1 : -1;
}

/** Bytes that `behind` trails `ahead` by; 0 when it is level or ahead. */
export function lsnLagBytes(ahead: string, behind: string): number {
  const difference = parseLsn(ahead) - parseLsn(behind);
  return difference > 0n ? Number(difference) : 0;
}

/**
 * How far a standby certainly has WAL: the later of what its receiver reports and what it has replayed.
 * A receiver that restarted (a repoint, a rejoin) reports the start of its segment until it writes again,
 * behind what the standby already replayed.
 */
export function standbyPosition(received: string | null, replayed: string | null): string | null {
  if (received === null) return replayed;
  if (replayed === null) return received;
  return compareLsn(received, replayed) >= 0 ? received : replayed;
}
