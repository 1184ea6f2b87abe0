import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { from as copyFrom, to as copyTo } from 'pg-copy-streams'
import type { Catalog } from '../catalog/read.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { fingerprints, type Fingerprint } from '../adopt/proof.ts'

/**
 * The tables in the order their rows can be loaded: every table after the tables its foreign keys
 * point at (a table that points at itself loads in one COPY, whose keys are checked at its end). A
 * cycle of foreign keys between tables is loaded in name order, and its load fails with the database's
 * error.
 */
export function loadOrder(cat: Catalog, tables: readonly string[]): string[] {
  const needs = new Map(tables.map((t) => [t, new Set<string>()]))
  for (const fk of cat.foreignKeys) if (fk.table !== fk.targetTable && needs.has(fk.targetTable)) needs.get(fk.table)?.add(fk.targetTable)
  const order: string[] = []
  const left = new Set([...tables].sort())
  while (left.size) {
    const ready = [...left].find((t) => [...needs.get(t)!].every((n) => !left.has(n))) ?? [...left][0]
    order.push(ready)
    left.delete(ready)
  }
  return order
}

/** The columns of a table that COPY can fill (stored generated columns are computed, never loaded), in their order. */
async function loadableColumns(c: pg.ClientBase, schema: string, table: string): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    `select a.attname as name from pg_attribute a join pg_class t on t.oid = a.attrelid join pg_namespace n on n.oid = t.relnamespace
      where n.nspname = $1 and t.relname = $2 and a.attnum > 0 and not a.attisdropped and a.attgenerated = '' order by a.attnum`,
    [schema, table],
  )
  return rows.map((r) => r.name)
}

/**
 * Streams the rows of `tables` from `source` into the same tables of `copy` (same schema name, same
 * structure), one COPY per table in binary form: memory stays flat whatever the size. The copy's own
 * triggers are off while it loads (the rows are the source's as they are, `updated_at` included).
 * Then each sequence of the copy gets the source's position. `source` must be in a read-only
 * repeatable-read transaction, so that every table is read at one instant.
 */
export async function copyRows(source: pg.ClientBase, copy: pg.ClientBase, schema: string, cat: Catalog, tables: readonly string[]): Promise<void> {
  const s = quoteIdent(schema)
  for (const table of loadOrder(cat, tables)) {
    const t = `${s}.${quoteIdent(table)}`
    const cols = (await loadableColumns(copy, schema, table)).map(quoteIdent).join(', ')
    await copy.query(`alter table ${t} disable trigger user`)
    await pipeline(
      source.query(copyTo(`copy ${t} (${cols}) to stdout (format binary)`)),
      copy.query(copyFrom(`copy ${t} (${cols}) from stdin (format binary)`)),
    )
    await copy.query(`alter table ${t} enable trigger user`)
  }
  for (const seq of cat.sequences) {
    const name = `${s}.${quoteIdent(seq.name)}`
    const { rows } = await source.query<{ last_value: string; is_called: boolean }>(`select last_value::text, is_called from ${name}`)
    await copy.query('select setval($1::regclass, $2::bigint, $3)', [name, rows[0].last_value, rows[0].is_called])
  }
}

/** One table's rows and content after a step. */
export interface TableState extends Fingerprint {
  table: string
}

/** The row count and content hash (adopt's proof) of every table of `schema` but the history's. */
export async function tableStates(c: pg.ClientBase, schema: string, tables: readonly string[]): Promise<TableState[]> {
  const prints = await fingerprints(c, schema, tables)
  return [...prints].map(([table, f]) => ({ table, ...f }))
}
