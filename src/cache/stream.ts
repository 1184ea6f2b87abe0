/**
 * A rebuild that writes while it reads: files are staged and upserted batch by batch, so that
 * PostgreSQL writes one batch while the next one is read and validated (reading is JavaScript's
 * work, writing is the server's: done one after the other, each leaves a core idle).
 *
 * Runs inside the caller's transaction. What a batch cannot know yet is settled at the end: a
 * file_id claimed again by a later file keeps neither, so every row a batch overwrites is first
 * saved in an undo table, and the rows of duplicated claims are put back (or deleted) at the end.
 */
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { CopyWriter } from './copy.ts'
import { forEachStageLine, skipDuplicates, STAGE, type Progress, type SkippedFile, type StageResult, type StageSpec } from './stage.ts'
import type { UpsertCounts, UpsertTarget } from './upsert.ts'

/** The rows of one batch, whole; the stage keeps only what the end needs (names and claims). */
export const BATCH = 'artstore_cache_batch'
/** The version before this run of every cached row a batch changed. */
export const UNDO = 'artstore_cache_undo'

/**
 * batch: files per batch, small enough that the last batch (the one nothing overlaps) is short and
 * that two batches of lines in memory stay small, large enough for set-based speed. Tests lower it
 * to put files in separate batches.
 */
export const streamTuning = { batch: 10_000 }

export interface StreamTarget extends UpsertTarget {
  /** SQL type of the key, for the list of duplicated claims. */
  keyType: string
  /** Columns the conflict check looks old rows up by (each gets an index on the undo table). */
  undoIndex?: readonly string[]
  /**
   * An UPDATE of batch table `s` that sets good = false, conflict = true on the rows the table
   * would refuse, returning (path, reason). It must judge against the cache as it was before this
   * run: the live table plus the saved rows of the undo table (given as arguments).
   */
  conflicts?: (batch: string, undo: string) => string
}

export interface StreamResult {
  staged: StageResult
  counts: UpsertCounts
}

const copied = (t: UpsertTarget) => t.columns.filter(([c]) => c !== t.key)
const fromOf = (t: UpsertTarget, column: string) => t.columns.find(([c]) => c === column)![1]

/** Stages and upserts every attr.json under `root`; see the module comment. Call inside a transaction. */
export async function streamRebuild(c: pg.ClientBase, root: string, spec: StageSpec, t: StreamTarget, onProgress?: (p: Progress) => void): Promise<StreamResult> {
  const cols = spec.columns.map(([n, ty]) => `${n} ${ty}`).join(', ')
  for (const name of [STAGE, BATCH, UNDO]) await c.query(`drop table if exists pg_temp.${name}`)
  await c.query(`create temp table ${STAGE} (path text not null, name text not null, claim uuid, good boolean not null, conflict boolean not null)`)
  await c.query(`create temp table ${BATCH} (path text not null, name text not null, claim uuid, good boolean not null, conflict boolean not null default false, ${cols})`)
  await c.query(`create temp table ${UNDO} (like ${t.table}, primary key (${t.key}))`)
  for (const col of t.undoIndex ?? []) await c.query(`create index on ${UNDO} (${col})`)
  // Rows this transaction wrote carry its id as xmin: how the end tells our writes from the rest.
  const xid = `'${(await c.query<{ x: string }>('select pg_current_xact_id()::xid::text as x')).rows[0].x}'::xid`
  // An empty cache at the start is no reason to skip the checks and the undo: another session may
  // commit rows while this run reads, and the promise below ("rows it changed get their old version
  // back") must hold for those too.

  const guard = t.guard ? `${t.guard} and ` : ''
  const key = fromOf(t, t.key)
  // Two good files of one batch with one file_id cannot go into one INSERT … ON CONFLICT: they wait
  // for the end, which skips them both anyway.
  const eligible = `s.good and s.claim not in (select claim from ${BATCH} where claim is not null group by claim having count(*) > 1)`
  const differs = (other: string[]) => `(${copied(t).map(([col]) => `t.${col}`).join(', ')}) is distinct from (${other.join(', ')})`
  const set = [...copied(t).map(([col]) => `${col} = excluded.${col}`), ...(t.touch ?? [])].join(', ')
  const save = `saved as (
      insert into ${UNDO} select t.* from ${t.table} t join ${BATCH} s on t.${t.key} = ${key}
      where ${eligible} and t.xmin <> ${xid} and ${guard}${differs(copied(t).map(([, f]) => f))}),`
  const upsert = `with ${save}
    up as (
      insert into ${t.table} as t (${t.columns.map(([col]) => col).join(', ')})
      select ${t.columns.map(([, f]) => f).join(', ')} from ${BATCH} s where ${eligible}
      on conflict (${t.key}) do update set ${set} where ${guard}${differs(copied(t).map(([col]) => `excluded.${col}`))}
      returning (xmax = 0) as inserted)
    select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated from up`

  const result: StageResult = { found: 0, good: 0, skipped: [], trimmed: [], folderErrors: 0 }
  const conflicts = new Map<string, SkippedFile>()
  const counts: UpsertCounts = { inserted: 0, updated: 0 }
  const copySql = `copy ${BATCH} (path, name, claim, good, ${spec.columns.map(([n]) => n).join(', ')}) from stdin`

  const ship = async (lines: string[]): Promise<void> => {
    await c.query(`truncate ${BATCH}`)
    const writer = new CopyWriter(c.query(copyFrom(copySql)))
    for (const line of lines) {
      const full = writer.push(line)
      if (full) await full
    }
    await writer.end()
    if (t.conflicts) {
      const { rows } = await c.query<{ path: string; reason: string }>(t.conflicts(BATCH, UNDO))
      for (const r of rows) conflicts.set(r.path, { path: r.path, code: 'conflict', reason: r.reason })
    }
    await c.query(`insert into ${STAGE} select path, name, claim, good, conflict from ${BATCH}`)
    const { rows } = await c.query<{ inserted: string; updated: string }>(upsert)
    counts.inserted += Number(rows[0].inserted)
    counts.updated += Number(rows[0].updated)
  }

  // At most one batch is being written while the next is read: memory holds two batches of lines.
  let lines: string[] = []
  let inflight: Promise<void> | undefined
  let failure: { error: unknown } | undefined
  const settle = async () => {
    await inflight
    if (failure) throw failure.error
  }
  const send = async () => {
    await settle()
    const batch = lines
    lines = []
    inflight = ship(batch).catch((error) => void (failure = { error }))
  }
  try {
    await forEachStageLine(root, spec, result, onProgress, (line) => {
      lines.push(line)
      if (lines.length >= streamTuning.batch) return send()
    })
    if (lines.length) await send()
    await settle()
  } catch (e) {
    // The connection must be idle before the caller rolls back.
    await inflight
    throw e
  }

  onProgress?.({ phase: 'resolve', files: result.found, skipped: result.skipped.length + conflicts.size })
  await c.query(`analyze ${STAGE}`)
  // A conflicting file that turns out to be a duplicate too is reported as a duplicate, as it would
  // be had the duplicates been known first.
  const dups = await skipDuplicates(c, result, '(s.good or s.conflict)')
  for (const d of dups) conflicts.delete(d.path)
  result.skipped.push(...conflicts.values())
  const claims = [...new Set(dups.map((d) => d.claim))]
  if (claims.length) {
    // Rows this run inserted for a duplicated claim go; rows it changed get their old version back.
    await c.query(`delete from ${t.table} t where t.${t.key} = any($1::${t.keyType}[]) and t.xmin = ${xid} and not exists (select 1 from ${UNDO} u where u.${t.key} = t.${t.key})`, [claims])
    await c.query(
      `update ${t.table} t set (${copied(t).map(([col]) => col).join(', ')}) = (${copied(t).map(([col]) => `u.${col}`).join(', ')})
         from ${UNDO} u where u.${t.key} = t.${t.key} and u.${t.key} = any($1::${t.keyType}[])`,
      [claims],
    )
    // What the batches counted for those claims no longer stands: count this run's rows again.
    const { rows } = await c.query<{ inserted: string; updated: string }>(
      `select count(*) filter (where u.${t.key} is null) as inserted, count(*) filter (where u.${t.key} is not null) as updated
         from ${t.table} t left join ${UNDO} u on u.${t.key} = t.${t.key}
        where t.xmin = ${xid} and t.${t.key} <> all($1::${t.keyType}[])`,
      [claims],
    )
    counts.inserted = Number(rows[0].inserted)
    counts.updated = Number(rows[0].updated)
  }
  result.good = Number((await c.query(`select count(*) as n from ${STAGE} where good`)).rows[0].n)
  onProgress?.({ phase: 'write', files: result.found, skipped: result.skipped.length, rows: result.good, totalRows: result.good })
  return { staged: result, counts }
}
