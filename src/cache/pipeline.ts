/**
 * The one write path of `cache rebuild`, for both modules, in three steps:
 *
 * 1. Read: files are read and validated (stage.ts) and COPYed into a temporary stage table in
 *    batches, each shipped while the next is read (reading is JavaScript's work, the COPY the
 *    server's). Nothing of the cache is locked or written.
 * 2. Judge: every file is judged against the cache as it is once all are read (a value another
 *    file_id holds, a row of another storage element), and a file_id or a unique value two files
 *    claim keeps neither. Every refusal (a folder that could not be listed, a bucket whose listing
 *    failed, an empty root with --prune) comes before this, so it changes nothing.
 * 3. Write: the rows that are new or differ from their file go into the cache in chunks of at most
 *    1000, in key order, each its own short transaction that gives way to the services (chunks.ts).
 *    Every row a chunk writes is final: a run stopped part way has left each row either as it was or
 *    as the finished run leaves it.
 *
 * A dry run takes the same steps and, instead of the writes, counts them in one read.
 */
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { forEachChunk, type ChunkBounds } from './chunks.ts'
import { CopyWriter } from './copy.ts'
import type { AttrSource } from './source.ts'
import { forEachStageLine, type Progress, type SkippedFile, type StageResult, type StageSpec } from './stage.ts'

/** Every file of the run, good or not, whole: path, name, claim, verdict, the mapped row. */
export const STAGE = 'artstore_cache_stage'
/** The run's record of what it wrote (or, in a dry run, would write): one line per row, its key, whether it was new, whether it changed (not only stamped). */
const OUTCOME = 'artstore_cache_outcome'

/** Files per COPY by default: two batches of lines in memory stay small. */
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
  /** Target column → the expression that fills it from stage row `s` (constants as escaped literals). */
  columns: readonly (readonly [column: string, from: string])[]
  /** Columns set on update besides the copied ones (e.g. cache_updated_at = now()). */
  touch?: readonly string[]
  /**
   * A column every good row gets, new, changed or not (cache_updated_at = the run's time): a row
   * whose value differs is written for it, without counting as updated.
   */
  stamp?: { column: string; value: string }
  /** Condition an existing row must meet to be updated, on alias `t` (rows of others are never touched). */
  guard?: string
  /** Other unique columns, staged columns of the same name: a value two files hold keeps neither. */
  unique: readonly string[]
  /**
   * UPDATEs of stage table `s` (the argument) that set good = false, conflict = true on the rows the
   * table would refuse or that belong to someone else, returning (path, reason). They judge against
   * the cache as it is before this run writes a row.
   */
  conflicts: readonly ((stage: string) => string)[]
}

export interface PipelineRun {
  root: string
  /** Where the attr.json files come from. */
  source: AttrSource
  dryRun: boolean
  onProgress?: (p: Progress) => void
  /** Files per COPY; default DEFAULT_BATCH_FILES. */
  batchFiles?: number
  /** The bounds of each write (rows per chunk, lock_timeout, statement_timeout, retries). */
  bounds: ChunkBounds
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
 * A conflict judge for `CacheTable.conflicts`: the staged rows whose `column` value is cached under
 * another key. `fields` are read from the cached row (alias `hit`) for `reason`, an SQL expression.
 */
export const takenElsewhere =
  (table: string, key: string, column: string, fields: readonly string[], reason: string) =>
  (stage: string): string => {
    const list = [key, ...fields.filter((f) => f !== key)].map((f) => `f.${f}`).join(', ')
    // One lookup per staged row (lateral … limit 1), through the column's index.
    return `with hit as (select s.ctid as at, ${list} from ${stage} s
        cross join lateral (select ${list} from ${table} f where f.${column} = s.${column} and f.${key} <> s.${key} limit 1) f where s.good)
     update ${stage} s set good = false, conflict = true from hit where s.ctid = hit.at
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

async function createTables(c: pg.ClientBase, spec: StageSpec): Promise<void> {
  for (const name of [STAGE, OUTCOME]) await c.query(`drop table if exists pg_temp.${name}`)
  const cols = spec.columns.map(([n, ty]) => `${n} ${ty}`).join(', ')
  await c.query(
    `create temp table ${STAGE} (path text not null, name text not null, claim uuid, good boolean not null, conflict boolean not null default false, ${cols})`,
  )
  await c.query(`create temp table ${OUTCOME} (key text not null, inserted boolean not null, changed boolean not null)`)
}

/** The good rows of the stage that are new or differ from the cache's (unchanged rows are left alone, unlocked: idempotence). */
function toWrite(t: CacheTable, range = 'true'): string {
  const key = fromOf(t, t.key)
  const guard = t.guard ? `${t.guard} and ` : ''
  const changed = `t.${t.key} is not null and ${guard}${differs(t, (_, from) => from)}`
  const stamp = t.stamp ? ` or (${guard}t.${t.stamp.column} is distinct from ${t.stamp.value})` : ''
  return `select s.*, t.${t.key} is null as artstore_new, coalesce(${changed}, false) as artstore_changed
    from ${STAGE} s left join ${t.table} t on t.${t.key} = ${key}
   where s.good and ${range} and (t.${t.key} is null or (${changed})${stamp})`
}

/** The write of one chunk (the good rows whose key is in `range`), leaving one OUTCOME line per row written. */
function chunkSql(t: CacheTable, range: string): string {
  const key = fromOf(t, t.key)
  const stamp = t.stamp ? [[t.stamp.column, t.stamp.value] as const] : []
  const columns = [...t.columns, ...stamp]
  const set = [...copied(t).map(([col]) => `${col} = excluded.${col}`), ...stamp.map(([col, v]) => `${col} = ${v}`), ...(t.touch ?? [])].join(', ')
  const guard = t.guard ? `${t.guard} and ` : ''
  const differsNow = differs(t, (col) => `excluded.${col}`) + stamp.map(([col, v]) => ` or t.${col} is distinct from ${v}`).join('')
  return `with pre as (${toWrite(t, range)}),
    up as (
      insert into ${t.table} as t (${columns.map(([col]) => col).join(', ')})
      select ${columns.map(([, f]) => f).join(', ')} from pre s order by ${key}
      on conflict (${t.key}) do update set ${set} where ${guard}(${differsNow})
      returning t.${t.key}::text as key, (xmax = 0) as inserted)
    insert into ${OUTCOME} select up.key, up.inserted, up.inserted or s.artstore_changed from up join pre s on (${key})::text = up.key`
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

/** Reads every attr.json of `run.source` into the stage (step 1), one COPY per batch, each while the next batch is read. */
async function stageAll(c: pg.ClientBase, spec: StageSpec, run: PipelineRun, result: StageResult): Promise<void> {
  const copySql = `copy ${STAGE} (path, name, claim, good, ${spec.columns.map(([n]) => n).join(', ')}) from stdin`
  const ship = async (lines: string[]): Promise<void> => {
    const writer = new CopyWriter(c.query(copyFrom(copySql)))
    for (const line of lines) {
      const full = writer.push(line)
      if (full) await full
    }
    await writer.end()
  }
  // At most one batch is being shipped while the next is read: memory holds two batches of lines.
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
    // The connection must be idle before the caller goes on.
    await inflight
    throw e
  }
}

/** Reads and judges every attr.json of `run.source` (steps 1 and 2); nothing of the cache is written. */
export async function stageAndJudge(c: pg.ClientBase, spec: StageSpec, t: CacheTable, run: PipelineRun): Promise<StageResult> {
  await createTables(c, spec)
  const result: StageResult = { found: 0, good: 0, skipped: [], trimmed: [], folderErrors: 0 }
  await stageAll(c, spec, run, result)
  run.onProgress?.({ phase: 'resolve', files: result.found, skipped: result.skipped.length })
  // Temporary tables are never analysed automatically; the joins that follow need the statistics.
  await c.query(`analyze ${STAGE}`)
  const conflicts = new Map<string, SkippedFile>()
  for (const judge of t.conflicts) {
    const { rows } = await c.query<{ path: string; reason: string }>(judge(STAGE))
    for (const r of rows) conflicts.set(r.path, { path: r.path, code: 'conflict', reason: r.reason })
  }
  // A conflicting file that turns out to share a claim is reported as such, as it would be had the claims been known first.
  for (const column of ['claim', ...t.unique]) for (const s of await skipShared(c, t, column, result)) conflicts.delete(s.path)
  result.skipped.push(...conflicts.values())
  await c.query(`create index on ${STAGE} (${t.key}) where good`)
  result.good = Number((await c.query(`select count(*) as n from ${STAGE} where good`)).rows[0].n)
  return result
}

/**
 * Writes the judged rows (step 3) in chunks in key order, or (dry run) counts them in one read;
 * `written` is told, after each chunk commits, how many rows the run has written so far (stamps included).
 */
export async function writeRows(
  c: pg.ClientBase,
  t: CacheTable,
  run: PipelineRun,
  staged: StageResult,
  written?: (rows: number) => void,
): Promise<UpsertCounts> {
  const progress = (rows: number) => run.onProgress?.({ phase: 'write', files: staged.found, skipped: staged.skipped.length, rows, totalRows: staged.good })
  if (run.dryRun) {
    await c.query(
      `insert into ${OUTCOME} select (${fromOf(t, t.key)})::text, s.artstore_new, true from (${toWrite(t)}) s where s.artstore_new or s.artstore_changed`,
    )
  } else {
    const keys = { key: fromOf(t, t.key), keyType: t.keyType, from: `${STAGE} s where s.good` }
    await forEachChunk(
      c,
      run.bounds,
      t.name,
      keys,
      (range) => chunkSql(t, range),
      (p) => {
        written?.(p.rows)
        progress(p.keys)
      },
    )
  }
  const { rows } = await c.query<{ inserted: string; updated: string }>(
    `select count(*) filter (where inserted) as inserted, count(*) filter (where changed and not inserted) as updated from ${OUTCOME}`,
  )
  progress(staged.good)
  return { inserted: Number(rows[0].inserted), updated: Number(rows[0].updated) }
}
