/**
 * `--prune`: deletes (or, in a dry run, counts) the cache rows no attr.json stands for any more. Only
 * rows the cache held when the run started, and only while their file is still absent at the end.
 * The deletes go in chunks in key order, each its own short transaction (chunks.ts), each checking
 * again that no staged file stands for the row.
 */
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import { forEachChunk, type ChunkBounds } from './chunks.ts'
import { STAGE } from './pipeline.ts'

/** The keys the cache held when the run started: what --prune may delete, and nothing written since. */
const BEFORE = 'artstore_cache_before'
/** The keys to delete: rows no staged file stands for, whose attr.json is still absent. */
const GONE = 'artstore_cache_gone'

export interface PruneTarget {
  /** Table name (unquoted). */
  table: string
  /** The rows this rebuild owns, on alias `t` (default: all). */
  where?: string
  /** The column holding the name of the row's attr.json (without .attr.json). */
  name: string
  /** The key column; a staged file that claims the key keeps the row. */
  id: string
  /** SQL type of the key column. */
  keyType: string
  /** Whether a row's attr.json exists now: a row whose file has appeared since it was listed is kept. */
  stillThere?: (row: Record<string, string>) => Promise<boolean>
}

/** Remembers the keys of the rows `p` covers, before anything is staged. */
export async function rememberKeys(c: pg.ClientBase, p: PruneTarget): Promise<void> {
  await c.query(`drop table if exists pg_temp.${BEFORE}`)
  await c.query(`create temp table ${BEFORE} as select t.${p.id} as id from ${quoteIdent(p.table)} t${p.where ? ` where ${p.where}` : ''}`)
  await c.query(`alter table ${BEFORE} add primary key (id)`)
}

/** How many rows `p` covers now. */
export async function countRows(c: pg.ClientBase, p: PruneTarget): Promise<number> {
  return Number((await c.query(`select count(*) as n from ${quoteIdent(p.table)} t${p.where ? ` where ${p.where}` : ''}`)).rows[0].n)
}

/**
 * Deletes (or counts) the remembered rows that no staged file stands for: neither a file of that name
 * (good or bad: a file that exists but could not be used still keeps its row) nor a file that claims
 * the row's id, and whose attr.json has not appeared since.
 */
export async function pruneUnseen(c: pg.ClientBase, p: PruneTarget, dryRun: boolean, bounds: ChunkBounds): Promise<number> {
  const table = quoteIdent(p.table)
  const unseen = `${p.where ? `${p.where} and ` : ''}not exists (select 1 from ${STAGE} s where s.name = t.${p.name})
    and not exists (select 1 from ${STAGE} s where s.claim::text = t.${p.id}::text) and t.${p.id} in (select id from ${BEFORE})`
  const { rows } = await c.query<Record<string, string>>(`select t.*, t.${p.id}::text as artstore_key from ${table} t where ${unseen}`)
  const absent: string[] = []
  for (const r of rows) if (!(await p.stillThere?.(r))) absent.push(r.artstore_key)
  if (dryRun || !absent.length) return absent.length
  await c.query(`drop table if exists pg_temp.${GONE}`)
  await c.query(`create temp table ${GONE} as select unnest($1::text[])::${p.keyType} as id`, [absent])
  await c.query(`alter table ${GONE} add primary key (id)`)
  return forEachChunk(
    c,
    bounds,
    p.table,
    { key: 'g.id', keyType: p.keyType, from: `${GONE} g where true` },
    (range) => `delete from ${table} t where t.${p.id} in (select g.id from ${GONE} g where ${range} order by g.id) and ${unseen}`,
  )
}
