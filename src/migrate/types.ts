/**
 * Column types as PostgreSQL compares them in ALTER COLUMN … TYPE: whether a change is one it makes
 * without rewriting the table (tablecmds.c ATColumnChangeRequiresRewrite: the new value is the old one
 * relabelled, or a length coercion that a planner support function reduces to a relabel).
 */

/** A type, normalised: its base name (PostgreSQL's own: varchar, bpchar, int4, numeric, timestamptz, …), modifiers, array. */
export interface ColumnType {
  base: string
  mods: number[]
  array: boolean
  /** interval with fields (`interval day to second`): its fields, lower case. */
  fields?: string
}

const ALIASES: Record<string, string> = {
  'character varying': 'varchar',
  varchar: 'varchar',
  character: 'bpchar',
  char: 'bpchar',
  bpchar: 'bpchar',
  int: 'int4',
  integer: 'int4',
  int4: 'int4',
  smallint: 'int2',
  int2: 'int2',
  bigint: 'int8',
  int8: 'int8',
  decimal: 'numeric',
  numeric: 'numeric',
  real: 'float4',
  float4: 'float4',
  'double precision': 'float8',
  float8: 'float8',
  boolean: 'bool',
  bool: 'bool',
  timestamp: 'timestamp',
  'timestamp without time zone': 'timestamp',
  timestamptz: 'timestamptz',
  'timestamp with time zone': 'timestamptz',
  time: 'time',
  'time without time zone': 'time',
  timetz: 'timetz',
  'time with time zone': 'timetz',
  'bit varying': 'varbit',
  varbit: 'varbit',
  bit: 'bit',
  interval: 'interval',
}

const INTERVAL_FIELDS = /\b(year|month|day|hour|minute|second)(\s+to\s+(month|hour|minute|second))?\b/

/**
 * Reads a type as written in a migration (`VARCHAR(500)`, `DECIMAL(12,2)`, `TIMESTAMPTZ(6)`,
 * `"Role"[]`) or as format_type prints it (`character varying(500)`, `timestamp(3) without time zone`).
 */
export function parseColumnType(text: string): ColumnType {
  let t = text.trim()
  const array = /(\[\s*\d*\s*\])+$/.test(t) || /\s+array$/i.test(t)
  t = t.replace(/(\[\s*\d*\s*\])+$/, '').replace(/\s+array$/i, '')
  const mods = [...(/\(([\d\s,]+)\)/.exec(t)?.[1].split(',') ?? [])].map((n) => Number(n.trim()))
  t = t.replace(/\s*\([\d\s,]+\)/, '')
  // A quoted name is the type's own spelling; an unquoted one folds to lower case. The schema goes.
  const last = /("(?:[^"]|"")+"|[^."]+)$/.exec(t)?.[1] ?? t
  let base = last.startsWith('"') ? last.slice(1, -1).replace(/""/g, '"') : last.toLowerCase().replace(/\s+/g, ' ').trim()
  if (/^pg_catalog\./i.test(t)) base = t.replace(/^pg_catalog\./i, '').toLowerCase()
  let fields: string | undefined
  if (base.startsWith('interval ')) {
    fields = INTERVAL_FIELDS.exec(base)?.[0]
    base = 'interval'
  }
  if (base === 'float') return { base: mods[0] !== undefined && mods[0] <= 24 ? 'float4' : 'float8', mods: [], array }
  const canonical = ALIASES[base] ?? base
  // char and bit without a length are of length 1.
  const withDefault = (canonical === 'bpchar' || canonical === 'bit') && !mods.length ? [1] : mods
  return { base: canonical, mods: withDefault, array, ...(fields ? { fields } : {}) }
}

/** Pairs PostgreSQL converts by relabelling (pg_cast method `b`), among the types a schema here uses. */
const BINARY_COERCIBLE = new Set(['varchar>text', 'text>varchar', 'cidr>inet', 'xml>text', 'xml>varchar'])

/** The length coercions a support function reduces to a relabel when the new limit is no tighter, and the default precision of the time types. */
const LENGTH_SUPPORTED = new Set(['varchar', 'varbit'])
const PRECISION_SUPPORTED: Record<string, number> = { timestamp: 6, timestamptz: 6, time: 6, timetz: 6, interval: 6 }

const same = (a: ColumnType, b: ColumnType) => a.base === b.base && a.array === b.array && a.mods.join(',') === b.mods.join(',') && a.fields === b.fields

/**
 * Whether changing a column from `from` to `to` (no USING clause) makes PostgreSQL rewrite the table:
 * false for a relabel (varchar ↔ text without a limit, varchar(n) → text, cidr → inet), a varchar or
 * varbit limit raised or removed, numeric precision raised with the same scale (or the limit removed),
 * a time, timestamp or interval precision raised or removed; and for no change. Anything else rewrites:
 * char(n) to another length, a narrowing, int → bigint, a cast through a function (timestamp ↔
 * timestamptz included: PostgreSQL skips that rewrite only for a session in UTC, which a deploy does
 * not promise), an array's element type, a domain, an enum.
 */
export function typeChangeRewrites(from: ColumnType, to: ColumnType): boolean {
  if (same(from, to)) return false
  if (from.array || to.array) return true
  if (from.base !== to.base) {
    if (!BINARY_COERCIBLE.has(`${from.base}>${to.base}`)) return true
    // text → varchar(n) checks every value's length (a scan that may fail): only unlimited is a relabel.
    return to.base === 'varchar' && to.mods.length > 0
  }
  if (LENGTH_SUPPORTED.has(to.base)) return to.mods.length > 0 && (from.mods.length === 0 || to.mods[0] < from.mods[0])
  if (to.base === 'numeric') {
    if (!to.mods.length) return false
    if (!from.mods.length) return true
    const [fp, fs = 0] = from.mods
    const [tp, ts = 0] = to.mods
    return ts !== fs || tp < fp
  }
  if (to.base in PRECISION_SUPPORTED) {
    if (from.fields !== to.fields) return true
    if (!to.mods.length) return false
    const max = PRECISION_SUPPORTED[to.base]
    return to.mods[0] < (from.mods[0] ?? max)
  }
  return true
}
