/**
 * What a rebuild needs to know about a cache table's shape, read from the catalog of the database
 * it writes to (never from the committed schema): a later migration may add columns, or make an index
 * unique or not, and the rebuild follows what the table is.
 */
import type pg from 'pg'

export interface TableShape {
  /** Every column of the table. */
  columns: Set<string>
  /**
   * Columns that hold each value once: a unique index (or unique constraint) on that one column,
   * partial or not (a partial one still refuses a second row where its predicate holds). The primary
   * key is left out. Expression indexes are ignored.
   */
  unique: Set<string>
}

/** The shape of `table` as the connection's search_path finds it (the table must exist). */
export async function readTableShape(c: pg.ClientBase, table: string): Promise<TableShape> {
  const { rows } = await c.query<{ column: string; unique: boolean }>(
    `select a.attname as column,
            exists (select 1 from pg_index i
                     where i.indrelid = a.attrelid and i.indisunique and not i.indisprimary
                       and i.indnkeyatts = 1 and i.indkey[0] = a.attnum and i.indexprs is null) as unique
       from pg_attribute a
      where a.attrelid = to_regclass(quote_ident($1)) and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [table],
  )
  return { columns: new Set(rows.map((r) => r.column)), unique: new Set(rows.filter((r) => r.unique).map((r) => r.column)) }
}
