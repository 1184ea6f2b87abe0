/**
 * The writing half of a rebuild: INSERT … ON CONFLICT from the stage table into the cache, in
 * batches of staged rows, and the --prune delete. Each function has a plan twin that counts what it
 * would do, so that --dry-run runs every step up to the write.
 */
import fs from 'node:fs'
import type pg from 'pg'
import { STAGE, type Progress } from './stage.ts'

/** Staged rows per INSERT: large enough for set-based speed, small enough to report progress. */
export const UPSERT_BATCH = 50_000

export interface UpsertTarget {
  /** Quoted table name. */
  table: string
  /** The conflict key column (the primary key). */
  key: string
  /** Target column → the expression that fills it from stage table `s` (constants as escaped literals). */
  columns: readonly (readonly [column: string, from: string])[]
  /** Columns set on update besides the copied ones (e.g. cache_updated_at = now()). */
  touch?: readonly string[]
  /** Extra condition an existing row must meet to be updated, on alias `t`. */
  guard?: string
}

export interface UpsertCounts {
  inserted: number
  updated: number
}

const copied = (t: UpsertTarget) => t.columns.filter(([c]) => c !== t.key)
/** True when the staged row differs from the cached one: unchanged rows are left alone (idempotence). */
const differs = (t: UpsertTarget, excluded = 'excluded') =>
  `(${copied(t).map(([c]) => `t.${c}`).join(', ')}) is distinct from (${copied(t).map(([c]) => `${excluded}.${c}`).join(', ')})`

/** Upserts every good staged row, batch by batch; returns how many rows were inserted and updated. */
export async function upsertStaged(c: pg.ClientBase, t: UpsertTarget, onProgress?: (p: Progress) => void, base?: Progress): Promise<UpsertCounts> {
  const counts: UpsertCounts = { inserted: 0, updated: 0 }
  // One pass over the stage tells how many good rows each batch of seq numbers holds.
  const { rows: batches } = await c.query<{ lo: string; n: string }>(
    `select min(seq) as lo, count(*) as n from ${STAGE} where good group by (seq - 1) / ${UPSERT_BATCH} order by 1`,
  )
  const total = batches.reduce((a, b) => a + Number(b.n), 0)
  const set = [...copied(t).map(([c]) => `${c} = excluded.${c}`), ...(t.touch ?? [])].join(', ')
  const guard = t.guard ? `${t.guard} and ` : ''
  const sql = `with up as (
      insert into ${t.table} as t (${t.columns.map(([c]) => c).join(', ')})
      select ${t.columns.map(([, f]) => f).join(', ')} from ${STAGE} s where s.good and s.seq >= $1 and s.seq < $2
      on conflict (${t.key}) do update set ${set} where ${guard}${differs(t)}
      returning (xmax = 0) as inserted)
    select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated from up`
  let done = 0
  for (const b of batches) {
    // Batches are aligned on multiples of UPSERT_BATCH, whatever seq the first good row has.
    const lo = Math.floor((Number(b.lo) - 1) / UPSERT_BATCH) * UPSERT_BATCH + 1
    const { rows } = await c.query<{ inserted: string; updated: string }>(sql, [lo, lo + UPSERT_BATCH])
    counts.inserted += Number(rows[0].inserted)
    counts.updated += Number(rows[0].updated)
    done += Number(b.n)
    if (base) onProgress?.({ ...base, phase: 'write', rows: done, totalRows: total })
  }
  return counts
}

/** What upsertStaged would do, counted without writing. */
export async function planUpsert(c: pg.ClientBase, t: UpsertTarget): Promise<UpsertCounts> {
  const guard = t.guard ? `${t.guard} and ` : ''
  const { rows } = await c.query<{ inserted: string; updated: string }>(
    `with x as (select ${t.columns.map(([c, f]) => `${f} as ${c}`).join(', ')} from ${STAGE} s where s.good)
     select count(*) filter (where t.${t.key} is null) as inserted,
            count(*) filter (where t.${t.key} is not null and ${guard}${differs(t, 'x')}) as updated
       from x left join ${t.table} t on t.${t.key} = x.${t.key}`,
  )
  return { inserted: Number(rows[0].inserted), updated: Number(rows[0].updated) }
}

/**
 * Deletes (or, in a dry run, counts) the cache rows matching `where` (on alias `t`) that no staged
 * file stands for: neither a file of that name (good or bad: a file that exists but could not be
 * used still keeps its row) nor a file that claims the row's id.
 */
export async function pruneUnseen(
  c: pg.ClientBase,
  o: {
    table: string
    where?: string
    name: string
    id: string
    dryRun: boolean
    /** A table of the keys (column `id`) the cache held when the run started: only those are pruned. */
    before?: string
    /** Where a row's attr.json may be (absolute paths): a row whose file has appeared since it was walked is kept. */
    filesOf?: (row: Record<string, string>) => string[]
  },
): Promise<number> {
  const unseen = `${o.where ? `${o.where} and ` : ''}not exists (select 1 from ${STAGE} s where s.name = t.${o.name})
    and not exists (select 1 from ${STAGE} s where s.claim::text = t.${o.id}::text)${o.before ? ` and t.${o.id} in (select id from ${o.before})` : ''}`
  if (!o.filesOf) {
    const sql = o.dryRun
      ? `select count(*) as n from ${o.table} t where ${unseen}`
      : `with gone as (delete from ${o.table} t where ${unseen} returning 1) select count(*) as n from gone`
    return Number((await c.query<{ n: string }>(sql)).rows[0].n)
  }
  const { rows } = await c.query<Record<string, string>>(`select t.*, t.${o.id}::text as artstore_key from ${o.table} t where ${unseen}`)
  const absent = rows.filter((r) => !o.filesOf!(r).some((f) => fs.existsSync(f))).map((r) => r.artstore_key)
  if (o.dryRun || !absent.length) return absent.length
  const { rowCount } = await c.query(`delete from ${o.table} t where t.${o.id}::text = any($1::text[]) and ${unseen}`, [absent])
  return rowCount ?? 0
}
