/**
 * The one write path of `cache rebuild`, for both modules. Files are read and validated (stage.ts)
 * and shipped to the server in batches; each batch is judged (conflicts with the cache) and written
 * while the next one is read (reading is JavaScript's work, writing the server's: done one after the
 * other, each leaves a core idle). A dry run goes the same way and stops at the write: each batch is
 * counted instead of written.
 *
 * Runs inside the caller's transaction. What a batch cannot know yet is settled at the end: a
 * file_id, or a value of a unique column, claimed by two files keeps neither. So every row a batch
 * overwrites is first saved in an undo table, and the rows of such claims are put back (or deleted)
 * at the end.
 */
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { CopyWriter } from './copy.ts'
import type { AttrSource } from './source.ts'
import { forEachStageLine, type Progress, type SkippedFile, type StageResult, type StageSpec } from './stage.ts'

/** Every file of the run, good or not, kept for the end: path, name, claim, verdict, unique values. */
export const STAGE = 'artstore_cache_stage'
/** The rows of one batch, whole. */
const BATCH = 'artstore_cache_batch'
/** The version before this run of every cached row a batch changed. */
const UNDO = 'artstore_cache_undo'
/** One line per row a batch wrote (or, in a dry run, would write): its key and whether it was new. */
const OUTCOME = 'artstore_cache_outcome'

/** Files per batch by default: the last batch (the one nothing overlaps) stays short, two batches of lines in memory stay small. */
export const DEFAULT_BATCH_FILES = 10_000

/** A cache table and how a staged row becomes its row. */
export interface CacheTable {
  /** Quoted table name. */
  table: string
  /** The table's name in messages. */
  name: string
  /** The primary key column; its value is the file's claim (its file_id). */
  key: string
  /** SQL type of the key. */
  keyType: string
  /** Target column → the expression that fills it from batch row `s` (constants as escaped literals). */
  columns: readonly (readonly [column: string, from: string])[]
  /** Columns set on update besides the copied ones (e.g. cache_updated_at = now()). */
  touch?: readonly string[]
  /** Condition an existing row must meet to be updated, on alias `t` (rows of others are never touched). */
  guard?: string
  /** Other unique columns, staged columns of the same name: a value two files hold keeps neither. */
  unique: readonly string[]
  /**
   * UPDATEs of batch table `s` that set good = false, conflict = true on the rows the table would
   * refuse or that belong to someone else, returning (path, reason). They judge against the cache as
   * it was before this run: the live table plus the saved rows of the undo table (the arguments).
   */
  conflicts: readonly ((batch: string, undo: string) => string)[]
}

export interface PipelineRun {
  root: string
  /** Where the attr.json files come from. */
  source: AttrSource
  dryRun: boolean
  onProgress?: (p: Progress) => void
  /** Files per batch; default DEFAULT_BATCH_FILES. */
  batchFiles?: number
}

export interface UpsertCounts {
  inserted: number
  updated: number
}

export interface PipelineResult {
  staged: StageResult
  counts: UpsertCounts
}

/**
 * A conflict judge for `CacheTable.conflicts`: the batch rows whose `column` value is cached under
 * another key, in the live table or among the saved old rows (the cache as it was before the run).
 * `fields` are read from the cached row (alias `hit`) for `reason`, an SQL expression.
 */
export const takenElsewhere =
  (table: string, key: string, column: string, fields: readonly string[], reason: string) =>
  (batch: string, undo: string): string => {
    const list = [key, ...fields.filter((f) => f !== key)].map((f) => `f.${f}`).join(', ')
    // One lookup per staged row (lateral … limit 1): a join would read the whole table for every batch.
    const hit = (from: string) =>
      `select s.ctid as at, ${list} from ${batch} s cross join lateral (select ${list} from ${from} f where f.${column} = s.${column} and f.${key} <> s.${key} limit 1) f where s.good`
    return `with hit as (${hit(table)} union all ${hit(undo)})
     update ${batch} s set good = false, conflict = true from hit where s.ctid = hit.at
     returning s.path, ${reason} as reason`
  }

const copied = (t: CacheTable) => t.columns.filter(([c]) => c !== t.key)
/** The copied columns as a list, each through `as` (e.g. prefixed with a table alias). */
const copiedList = (t: CacheTable, as: (column: string, from: string) => string) =>
  copied(t)
    .map(([col, from]) => as(col, from))
    .join(', ')
const fromOf = (t: CacheTable, column: string) => t.columns.find(([c]) => c === column)![1]
/** True when the cached row `t` differs from the values `other` names (unchanged rows are left alone: idempotence). */
const differs = (t: CacheTable, other: (column: string, from: string) => string) =>
  `(${copiedList(t, (col) => `t.${col}`)}) is distinct from (${copiedList(t, other)})`

async function createTables(c: pg.ClientBase, spec: StageSpec, t: CacheTable): Promise<void> {
  const typeOf = (col: string) => spec.columns.find(([n]) => n === col)![1]
  const unique = t.unique.map((u) => `, ${u} ${typeOf(u)}`).join('')
  for (const name of [STAGE, BATCH, UNDO, OUTCOME]) await c.query(`drop table if exists pg_temp.${name}`)
  await c.query(`create temp table ${STAGE} (path text not null, name text not null, claim uuid, good boolean not null, conflict boolean not null${unique})`)
  const cols = spec.columns.map(([n, ty]) => `${n} ${ty}`).join(', ')
  await c.query(
    `create temp table ${BATCH} (path text not null, name text not null, claim uuid, good boolean not null, conflict boolean not null default false, ${cols})`,
  )
  await c.query(`create temp table ${UNDO} (like ${t.table}, primary key (${t.key}))`)
  for (const u of t.unique) await c.query(`create index on ${UNDO} (${u})`)
  await c.query(`create temp table ${OUTCOME} (key text not null, inserted boolean not null)`)
}

/** The write of one batch, or (dry run) its count: both leave one OUTCOME line per row written. */
function writeSql(t: CacheTable, dryRun: boolean, xid: string): string {
  const key = fromOf(t, t.key)
  // Files of one batch that share a claim or a unique value cannot go into one INSERT … ON CONFLICT:
  // they wait for the end, which skips them all anyway.
  const heldBack = [
    `s.claim in (select claim from ${BATCH} where claim is not null group by claim having count(*) > 1)`,
    ...t.unique.map((u) => `s.${u} in (select ${u} from ${BATCH} where good group by ${u} having count(*) > 1)`),
  ]
  const eligible = `s.good and not coalesce(${heldBack.join(' or ')}, false)`
  const guard = t.guard ? `${t.guard} and ` : ''
  // The row differs from the file's (changed rows only: idempotence), or from the values the upsert brings.
  const fromFile = guard + differs(t, (_, from) => from)
  const fromExcluded = guard + differs(t, (col) => `excluded.${col}`)
  if (dryRun) {
    return `insert into ${OUTCOME} select (${key})::text, t.${t.key} is null from ${BATCH} s left join ${t.table} t on t.${t.key} = ${key}
      where ${eligible} and (t.${t.key} is null or (${fromFile}))`
  }
  const set = [...copied(t).map(([col]) => `${col} = excluded.${col}`), ...(t.touch ?? [])].join(', ')
  // Rows this transaction wrote carry its id as xmin: those were saved before, or are new.
  return `with saved as (
      insert into ${UNDO} select t.* from ${t.table} t join ${BATCH} s on t.${t.key} = ${key}
      where ${eligible} and t.xmin <> ${xid} and ${fromFile}),
    up as (
      insert into ${t.table} as t (${t.columns.map(([col]) => col).join(', ')})
      select ${t.columns.map(([, f]) => f).join(', ')} from ${BATCH} s where ${eligible}
      on conflict (${t.key}) do update set ${set} where ${fromExcluded}
      returning t.${t.key}::text as key, (xmax = 0) as inserted)
    insert into ${OUTCOME} select key, inserted from up`
}

/**
 * Marks the staged files (good or in conflict) that share `column` (a claim or a unique value) with
 * another staged file, reports them, and returns their claims: the cache keeps none of them.
 */
async function skipShared(
  c: pg.ClientBase,
  t: CacheTable,
  column: string,
  result: Pick<StageResult, 'skipped'>,
): Promise<{ path: string; claim: string | null }[]> {
  // A claim counts whoever makes it (a file that cannot be used still claims its file_id); a unique value only files that could be cached.
  const among = column === 'claim' ? `claim is not null` : `(good or conflict)`
  const { rows } = await c.query<{ path: string; claim: string | null; value: string; paths: string[] }>(
    `with dup as (select ${column} as v, array_agg(path order by path) as paths from ${STAGE} where ${among} group by ${column} having count(*) > 1)
     update ${STAGE} s set good = false, conflict = false from dup where s.${column} = dup.v and (s.good or s.conflict)
     returning s.path, s.claim::text as claim, dup.v::text as value, dup.paths`,
  )
  for (const r of rows) {
    const others = r.paths.filter((p) => p !== r.path).join(', ')
    result.skipped.push(
      column === 'claim'
        ? { path: r.path, code: 'duplicate-file-id', reason: `file_id ${r.value} is also claimed by ${others}: neither is cached` }
        : { path: r.path, code: 'conflict', reason: `${column} ${r.value} is shared with ${others} (${column} is unique in ${t.name}): neither is cached` },
    )
  }
  return rows
}

/** Stages, judges and writes (or counts) every attr.json of `run.source`; see the module comment. Call inside a transaction. */
export async function runPipeline(c: pg.ClientBase, spec: StageSpec, t: CacheTable, run: PipelineRun): Promise<PipelineResult> {
  await createTables(c, spec, t)
  const xid = `'${(await c.query<{ x: string }>('select pg_current_xact_id()::xid::text as x')).rows[0].x}'::xid`
  const write = writeSql(t, run.dryRun, xid)
  const result: StageResult = { found: 0, good: 0, skipped: [], trimmed: [], folderErrors: 0 }
  const conflicts = new Map<string, SkippedFile>()
  const copySql = `copy ${BATCH} (path, name, claim, good, ${spec.columns.map(([n]) => n).join(', ')}) from stdin`
  const keep = ['path', 'name', 'claim', 'good', 'conflict', ...t.unique].join(', ')

  const ship = async (lines: string[]): Promise<void> => {
    await c.query(`truncate ${BATCH}`)
    const writer = new CopyWriter(c.query(copyFrom(copySql)))
    for (const line of lines) {
      const full = writer.push(line)
      if (full) await full
    }
    await writer.end()
    for (const judge of t.conflicts) {
      const { rows } = await c.query<{ path: string; reason: string }>(judge(BATCH, UNDO))
      for (const r of rows) conflicts.set(r.path, { path: r.path, code: 'conflict', reason: r.reason })
    }
    await c.query(`insert into ${STAGE} select ${keep} from ${BATCH}`)
    await c.query(write)
  }

  // At most one batch is being written while the next is read: memory holds two batches of lines.
  const batchFiles = run.batchFiles ?? DEFAULT_BATCH_FILES
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
    await forEachStageLine(run.source, spec, result, run.onProgress, (line) => {
      lines.push(line)
      if (lines.length >= batchFiles) return send()
    })
    if (lines.length) await send()
    await settle()
  } catch (e) {
    // The connection must be idle before the caller rolls back.
    await inflight
    throw e
  }

  run.onProgress?.({ phase: 'resolve', files: result.found, skipped: result.skipped.length + conflicts.size })
  // Temporary tables are never analysed automatically; the joins that follow need the statistics.
  await c.query(`analyze ${STAGE}`)
  // A conflicting file that turns out to share a claim is reported as such, as it would be had the claims been known first.
  const shared = []
  for (const column of ['claim', ...t.unique]) shared.push(...(await skipShared(c, t, column, result)))
  for (const s of shared) conflicts.delete(s.path)
  result.skipped.push(...conflicts.values())
  const withdrawn = [...new Set(shared.flatMap((s) => (s.claim ? [s.claim] : [])))]
  if (withdrawn.length) {
    if (!run.dryRun) {
      // Rows this run inserted for a withdrawn claim go; rows it changed get their old version back.
      const ids = `any($1::${t.keyType}[])`
      await c.query(
        `delete from ${t.table} t where t.${t.key} = ${ids} and t.xmin = ${xid} and not exists (select 1 from ${UNDO} u where u.${t.key} = t.${t.key})`,
        [withdrawn],
      )
      await c.query(
        `update ${t.table} t set (${copiedList(t, (col) => col)}) = (${copiedList(t, (col) => `u.${col}`)})
           from ${UNDO} u where u.${t.key} = t.${t.key} and u.${t.key} = ${ids}`,
        [withdrawn],
      )
    }
    await c.query(`delete from ${OUTCOME} where key = any($1::text[])`, [withdrawn])
  }
  const { rows } = await c.query<{ inserted: string; updated: string }>(
    `select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated from ${OUTCOME}`,
  )
  result.good = Number((await c.query(`select count(*) as n from ${STAGE} where good`)).rows[0].n)
  run.onProgress?.({ phase: 'write', files: result.found, skipped: result.skipped.length, rows: result.good, totalRows: result.good })
  return { staged: result, counts: { inserted: Number(rows[0].inserted), updated: Number(rows[0].updated) } }
}
