import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import { droppedData } from './script.ts'

/** Rows a rollback would take away: a table its down.sql drops or empties, or columns it drops. */
export interface RowsLost {
  /** The migration whose down.sql does it. */
  migration: string
  /** The table, schema-qualified as the database resolves the name (the module's search_path). */
  table: string
  /** Absent: the whole table goes (DROP TABLE, TRUNCATE). Else the columns whose values go. */
  columns?: string[]
  /** Counted exactly (count(*)) when the plan is made: the table's rows, or for columns the rows with a value in any of them. */
  rows: number
}

/** A name as written, for to_regclass: each part quoted, so that what the script meant is what is found. */
const written = (parts: string[]) => parts.map(quoteIdent).join('.')

/** The table a name resolves to on this connection (its search_path, as down.sql would); none when there is no such table. */
async function resolveTable(c: pg.ClientBase, parts: string[]): Promise<{ schema: string; name: string } | undefined> {
  const { rows } = await c.query<{ schema: string; name: string }>(
    `select n.nspname as schema, r.relname as name from pg_class r join pg_namespace n on n.oid = r.relnamespace
      where r.oid = to_regclass($1) and r.relkind in ('r', 'p')`,
    [written(parts)],
  )
  return rows[0]
}

/**
 * The data each migration's down.sql would take away, in the order the rollback runs them, with exact
 * row counts read now (a plain `count(*)`: it reads every row, and blocks no writer). A table that
 * does not exist (a `DROP TABLE IF EXISTS` of something already gone) is left out.
 */
export async function rowsLost(c: pg.ClientBase, steps: readonly { migration: string; down: string }[]): Promise<RowsLost[]> {
  const out: RowsLost[] = []
  for (const { migration, down } of steps) {
    const { tables, columns } = droppedData(down)
    const gone = new Set<string>()
    for (const parts of tables) {
      const t = await resolveTable(c, parts)
      if (!t) continue
      const table = `${t.schema}.${t.name}`
      if (gone.has(table)) continue
      gone.add(table)
      const { rows } = await c.query<{ n: string }>(`select count(*) as n from ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`)
      out.push({ migration, table, rows: Number(rows[0].n) })
    }
    const byTable = new Map<string, { schema: string; name: string; columns: string[] }>()
    for (const col of columns) {
      const t = await resolveTable(c, col.table)
      if (!t || gone.has(`${t.schema}.${t.name}`)) continue
      const entry = byTable.get(`${t.schema}.${t.name}`) ?? { ...t, columns: [] }
      if (!entry.columns.includes(col.column)) entry.columns.push(col.column)
      byTable.set(`${t.schema}.${t.name}`, entry)
    }
    for (const [table, t] of byTable) {
      const { rows: present } = await c.query<{ attname: string }>(
        `select attname from pg_attribute where attrelid = to_regclass($1) and attnum > 0 and not attisdropped and attname = any($2::text[])`,
        [written([t.schema, t.name]), t.columns],
      )
      const cols = t.columns.filter((name) => present.some((p) => p.attname === name))
      if (!cols.length) continue
      const anyValue = cols.map((name) => `${quoteIdent(name)} is not null`).join(' or ')
      const { rows } = await c.query<{ n: string }>(`select count(*) filter (where ${anyValue}) as n from ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`)
      out.push({ migration, table, columns: cols, rows: Number(rows[0].n) })
    }
  }
  return out
}
