import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'

/** A table's rows and content, in a form that survives a representation change (json → jsonb). */
export interface Fingerprint {
  rows: number
  /** Order-independent sum over md5 of each row's canonical text; json/jsonb compared as jsonb. */
  hash: string
}

export interface TableProof {
  table: string
  before: Fingerprint
  after: Fingerprint
  ok: boolean
}

/**
 * Counts the rows of a table and hashes its content. Each column is rendered as text, json and jsonb
 * both through jsonb (so key order and whitespace do not count), NULL as a marker, and the per-row
 * md5 values are summed: the result depends on the rows, not on their physical order.
 */
export async function fingerprint(c: pg.ClientBase, schema: string, table: string): Promise<Fingerprint> {
  const { rows: cols } = await c.query<{ name: string; type: string }>(
    `select a.attname as name, format_type(a.atttypid, null) as type
       from pg_attribute a join pg_class t on t.oid = a.attrelid join pg_namespace n on n.oid = t.relnamespace
      where n.nspname = $1 and t.relname = $2 and a.attnum > 0 and not a.attisdropped order by a.attname`,
    [schema, table],
  )
  const parts = cols.map(({ name, type }) => {
    const col = `t.${quoteIdent(name)}`
    const text = type === 'json' || type === 'jsonb' ? `${col}::jsonb::text` : `${col}::text`
    return `coalesce(${text}, '\\N')`
  })
  const row = parts.length ? `concat_ws(E'\\x1f', ${parts.join(', ')})` : `''`
  const { rows } = await c.query<{ rows: string; hash: string }>(
    `select count(*)::text as rows,
            coalesce(sum(('x' || left(md5(${row}), 15))::bit(60)::bigint::numeric), 0)::text as hash
       from ${quoteIdent(schema)}.${quoteIdent(table)} t`,
  )
  return { rows: Number(rows[0].rows), hash: rows[0].hash }
}

export async function fingerprints(c: pg.ClientBase, schema: string, tables: readonly string[]): Promise<Map<string, Fingerprint>> {
  const out = new Map<string, Fingerprint>()
  for (const t of tables) out.set(t, await fingerprint(c, schema, t))
  return out
}

/** Before/after per table: the same number of rows and the same content hash. */
export function compareFingerprints(before: Map<string, Fingerprint>, after: Map<string, Fingerprint>): TableProof[] {
  return [...before].map(([table, b]) => {
    const a = after.get(table) ?? { rows: -1, hash: 'missing' }
    return { table, before: b, after: a, ok: a.rows === b.rows && a.hash === b.hash }
  })
}
