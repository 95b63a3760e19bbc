// Mixed versions in one state table. Every item a release writes carries `schema` (the store schema it
// writes, STORE_SCHEMA) and `writtenBy` (its version). Readers accept fields they do not know (the schemas
// are loose) and refuse only what they cannot interpret, as SQLite's header does with its read and write
// versions: an item whose `minSchema` is above STORE_SCHEMA says that a release this old must not act on
// it, and an item that does not parse is reported with the release that wrote it, so the error says which
// side to upgrade. STORE_SCHEMA is bumped when a record changes in a way an older reader could misread;
// a writer that makes such a change also sets minSchema on what it writes (docs/operations.md, "Mixed versions").

import type { z } from 'zod';
import { describeIssues } from './records.ts';
import { PGFAILOVER_VERSION } from './version.ts';

/**
 * The store schema this release reads and writes. 2: the cluster policy's peerLeases, which a release of
 * schema 1 would misread (it takes a watchdog as proof of a stop that peer leases can outlive).
 */
export const STORE_SCHEMA = 2;
/** The schema a record needs its readers to have because it turns peer leases on. */
export const PEER_LEASES_SCHEMA = 2;

/** What a reader must understand to act on `item`: peer leases on in its policy need schema 2. */
function minSchemaOf(item: object): number | undefined {
  const policy = (item as { policy?: { peerLeases?: unknown } }).policy;
  return policy?.peerLeases === true ? PEER_LEASES_SCHEMA : undefined;
}

export interface WriterStamp {
  schema: number;
  writtenBy: string;
}

/**
 * The item as this release writes it: stamped with its schema and version, and with the least schema its
 * readers need worked out afresh from what it says (a minSchema read with it is not carried over).
 */
export function stamped<T extends object>(item: T): T & WriterStamp {
  const { minSchema: _read, ...rest } = item as T & { minSchema?: unknown };
  const minSchema = minSchemaOf(item);
  return {
    ...(rest as T),
    ...(minSchema !== undefined ? { minSchema } : {}),
    schema: STORE_SCHEMA,
    writtenBy: PGFAILOVER_VERSION,
  };
}

const numberField = (item: Record<string, unknown>, key: string): number | undefined =>
  typeof item[key] === 'number' ? item[key] : undefined;

/** Which release wrote an item, in words ("pgfailover 0.1.0"). */
export function writtenByOf(item: object): string {
  const by = (item as { writtenBy?: unknown }).writtenBy;
  return typeof by === 'string' ? `pgfailover ${by}` : 'a release from before schema stamps';
}

/** The store schema an item was written with (0: a release from before schema stamps). */
export function schemaOf(item: object): number {
  return numberField(item as Record<string, unknown>, 'schema') ?? 0;
}

function writer(item: Record<string, unknown>): string {
  const schema = numberField(item, 'schema');
  return schema === undefined ? writtenByOf(item) : `${writtenByOf(item)} (store schema ${schema})`;
}

export type StoredRead<T> = { ok: true; data: T } | { ok: false; problems: string[] };

/**
 * Parses an item read from the store. `what` names it ("cluster prod/CLUSTER"). Refuses an item that
 * says a newer release is needed to interpret it, and an item that does not parse, each with the release
 * that wrote it and what to do.
 */
export function readStored<S extends z.ZodType>(
  schema: S,
  item: Record<string, unknown>,
  what: string,
): StoredRead<z.infer<S>> {
  const minSchema = numberField(item, 'minSchema');
  if (minSchema !== undefined && minSchema > STORE_SCHEMA)
    return {
      ok: false,
      problems: [
        `${what} was written by ${writer(item)} and needs a release that reads store schema ${minSchema}; this is pgfailover ${PGFAILOVER_VERSION} (store schema ${STORE_SCHEMA}): upgrade it (docs/operations.md, "Mixed versions")`,
      ],
    };
  const parsed = schema.safeParse(item);
  if (parsed.success) return { ok: true, data: parsed.data };
  const issues = describeIssues(parsed.error);
  const newer = schemaOf(item) > STORE_SCHEMA;
  return {
    ok: false,
    problems: newer
      ? [
          `${what} was written by ${writer(item)}, newer than this pgfailover ${PGFAILOVER_VERSION} (store schema ${STORE_SCHEMA}), which cannot interpret ${issues.join('; ')}: upgrade this program (docs/operations.md, "Mixed versions")`,
        ]
      : issues.map((issue) => `${issue} (written by ${writer(item)})`),
  };
}

/** readStored, throwing an Error that names the item and its table when it cannot be read. */
export function parseStored<S extends z.ZodType>(schema: S, item: Record<string, unknown>, what: string): z.infer<S> {
  const read = readStored(schema, item, what);
  if (read.ok) return read.data;
  throw new Error(`${what} is not a record this release can read: ${read.problems.join('; ')}`);
}
