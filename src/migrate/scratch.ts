import type pg from 'pg'
import { readCatalog, type Catalog } from '../catalog/read.ts'
import { quoteIdent } from '../db/pg-config.ts'
import type { Extra } from '../baseline/extras.ts'
import { runWhole } from '../backfill/run.ts'

/** Makes `schema` and puts it first on the session's search_path, so that names stay unqualified (`public` after it). */
export async function enterSchema(c: pg.ClientBase, schema: string): Promise<void> {
  await c.query(`create schema if not exists ${quoteIdent(schema)}`)
  await c.query(`select set_config('search_path', $1, false)`, [schema === 'public' ? 'public' : `${quoteIdent(schema)}, public`])
}

/**
 * Runs one script in `schema` for a replay of the history: the whole file as one query (PostgreSQL
 * runs it as one implicit transaction), with the schema first on the search_path (see enterSchema;
 * the history is replayed there, with the extensions it creates). A batched backfill runs as one
 * statement over every key (see runWhole).
 */
export async function runIn(c: pg.ClientBase, schema: string, sql: string): Promise<void> {
  await enterSchema(c, schema)
  await runWhole(c, sql)
}

/** Runs `sql` in `schema` and returns the catalog it leaves. */
export async function runAndRead(c: pg.ClientBase, schema: string, sql: string): Promise<Catalog> {
  if (sql.trim()) await runIn(c, schema, sql)
  return readCatalog(c, schema)
}

/**
 * The functions and triggers of a catalog as statements that recreate them (the extras of a state that
 * only a database holds, e.g. the history's): what a down script restores a changed or removed extra from.
 */
export function catalogExtras(cat: Catalog): Extra[] {
  const functions = cat.functions.map(
    (f) => `CREATE OR REPLACE FUNCTION ${quoteIdent(f.name)}(${f.args}) RETURNS ${f.result}\nLANGUAGE ${f.language} AS $$${f.body}$$;`,
  )
  const triggers = cat.triggers.map((t) => `${t.definition};`)
  return [{ file: 'the previous migration', sql: [...functions, ...triggers].join('\n\n') }]
}
