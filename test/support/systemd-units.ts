// systemd's unit logic, as far as the agent's life cycle touching PostgreSQL goes, where systemd cannot run
// (this machine has no systemd as PID 1): a unit and its drop-ins read from a root, merged as systemd merges
// them, and the units a stop or restart of one unit reaches, by systemd.unit(5).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type UnitFile = Map<string, Map<string, string[]>>;

const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

function parseInto(unit: UnitFile, text: string): void {
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      if (!unit.has(section)) unit.set(section, new Map());
      continue;
    }
    const [key, ...rest] = line.split('=');
    const value = rest.join('=').trim();
    const values = unit.get(section)?.get((key as string).trim()) ?? [];
    // An empty assignment resets the list, as in systemd.
    unit.get(section)?.set((key as string).trim(), value === '' ? [] : [...values, ...value.split(/\s+/)]);
  }
}

/** The unit `name` under `root`: its file (or its template's, for an instance) and then its drop-ins in order. */
export function loadUnit(root: string, name: string): UnitFile {
  const unit: UnitFile = new Map();
  const template = name.replace(/@[^.]+\./, '@.');
  const file = UNIT_DIRS.flatMap((dir) => [join(root, dir, name), join(root, dir, template)]).find((path) =>
    existsSync(path),
  );
  if (!file) throw new Error(`no unit file for ${name} under ${root}`);
  parseInto(unit, readFileSync(file, 'utf8'));
  for (const dropInDir of UNIT_DIRS.map((dir) => join(root, dir, `${name}.d`)).reverse()) {
    if (!existsSync(dropInDir)) continue;
    for (const conf of readdirSync(dropInDir)
      .filter((entry) => entry.endsWith('.conf'))
      .sort())
      parseInto(unit, readFileSync(join(dropInDir, conf), 'utf8'));
  }
  return unit;
}

const values = (unit: UnitFile, section: string, key: string) => unit.get(section)?.get(key) ?? [];

/**
 * Whether systemd propagates an explicit stop or restart of `from` to `to` (systemd.unit(5)): `to` says
 * Requires=, BindsTo= or PartOf= (Requisite= too, counted to be safe) on `from`; `from` says
 * PropagatesStopTo= or ConsistsOf= `to`, or is installed RequiredBy=/BoundBy= it; or either Conflicts= with
 * the other (starting one stops the other).
 */
export function stopReaches(units: Record<string, UnitFile>, from: string, to: string): string | undefined {
  const target = units[to] as UnitFile;
  const source = units[from] as UnitFile;
  for (const key of ['Requires', 'BindsTo', 'PartOf', 'Requisite', 'Conflicts'])
    if (values(target, 'Unit', key).includes(from)) return `${to} says ${key}=${from}`;
  for (const key of ['PropagatesStopTo', 'ConsistsOf', 'Conflicts'])
    if (values(source, 'Unit', key).includes(to)) return `${from} says ${key}=${to}`;
  for (const key of ['RequiredBy', 'BoundBy'])
    if (values(source, 'Install', key).includes(to)) return `${from} is installed ${key}=${to}`;
  return undefined;
}

export function unitValue(unit: UnitFile, section: string, key: string): string[] {
  return values(unit, section, key);
}
