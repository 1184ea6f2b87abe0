import { createHash } from 'node:crypto'
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import { DEFAULT_BATCH_TIMEOUT_MS, withLockRetries, type LockRetrySettings } from '../db/lock-retry.ts'
import { batchedDeclaration, MAX_BATCH_SIZE, type BatchedDeclaration } from '../migrate/header.ts'
import { ensureProgressTable, historySchemaOf, PROGRESS_TABLE, type ProgressKey } from './progress.ts'

/**
 * Batched backfills: a migration declared `-- artstore: batched table=… key=… size=…` whose one
 * statement bounds the key with `$1` (the batch's first key) and `$2` (its last), run once per batch
 * of the table's keys, in key order. Each batch is one short transaction that
 *
 * 1. locks the migration's progress row (artstore.batched_backfills), so that a run that is still
 *    finishing a batch (a killed deploy's backend, a second deploy) is waited for, and the range is
 *    read from what it committed;
 * 2. reads the next `size` keys after the last one done, and runs the statement on that range;
 * 3. records the range's last key in the progress row, and commits.
 *
 * The statement and its progress commit together: a batch is done once or not at all, and a run that
 * dies (SIGKILL, a cut connection) leaves the progress of every committed batch, from which the next
 * run goes on. The last transaction (no keys left) deletes the progress row and marks the engine's
 * history row finished, so a later run of the same migration (after a rollback) starts anew.
 *
 * The bound: each batch's statements run with `statement_timeout` = the batch timeout
 * (ARTSTORE_BATCH_TIMEOUT, default 1 s), so no batch holds the rows it changed longer than that (and
 * its commit); its `lock_timeout` is the lock-retry try's, at most half the bound. A batch that runs
 * out of the bound is rolled back and tried again with half the rows. Batch sizes adapt: each next
 * batch aims at a tenth of the bound (100 ms by default), at most doubling or halving at a time.
 */

/** Each batch aims at the bound divided by this. */
export const BATCH_TARGET_SHARE = 10
/**
 * After each batch the run rests this many times the batch's transaction took (from its BEGIN to its
 * COMMIT) before the next, unless the header's pause= is longer: the backfill keeps its backend busy
 * at most half of its run, and leaves the server's CPU and disk the other half for the services'
 * statements (their p99 beside a backfill of 1 000 000 rows on two busy cores: README "Benchmarks", live).
 */
export const BATCH_REST_SHARE = 1

/** The rest after a batch whose transaction took `transactionMs`: that long again, or the header's pause when longer. */
export const restAfterMs = (transactionMs: number, pauseMs: number) => Math.max(pauseMs, Math.round(transactionMs * BATCH_REST_SHARE))
/** Deadlocks one batch may lose before the migration fails. */
const DEADLOCK_TRIES = 5

/** What a batched backfill has done so far (after each batch, and once at its start). */
export interface BatchProgress {
  /** The migration, when the engine's history names it. */
  migration?: string
  /** The table walked, as the header names it. */
  table: string
  /** Batches committed, this run and earlier ones. */
  batches: number
  /** Keys walked (rows of the table in the ranges done). */
  walked: number
  /** Rows the statement changed. */
  changed: number
  /** The table's rows at the start (pg_class.reltuples, else counted): for a progress bar. */
  estimatedRows: number
  /** The last key done (text). */
  lastKey?: string
  /** The next batch's size. */
  size: number
  /** The last batch's time, in ms (its statement). */
  lastBatchMs?: number
  /** This run went on from an earlier one's progress. */
  resumed: boolean
  done: boolean
}

/** An error as the driver's are (a SQLSTATE and a severity): the engine reports it with the migration (P3018). */
export class BatchedBackfillError extends Error {
  readonly severity = 'ERROR'
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message)
  }
}

export interface BatchedRun {
  /** The connection the batches run on (its search_path finds the table, as the migration's would). */
  client: pg.ClientBase
  /** Its backend pid and a second connection to watch whom a batch waits for; without them each batch gets one try. */
  watch?: { pid: number; watcher: Pick<pg.Pool, 'query'> }
  script: string
  retry: LockRetrySettings
  /** server_version_num */
  version: number
  /** The engine's unfinished history row of the migration, marked finished in the last batch's transaction. */
  history?: { table: string; schema: string; id: string; migration: string }
  /** Without a history row: the name its progress is kept under (rollback: `<migration>/down.sql`), with the history table's schema. */
  progressName?: string
  /** Runs inside the last batch's transaction (rollback: the removal of the history row). */
  finish?: (c: pg.ClientBase) => Promise<void>
}

interface Key {
  table: string
  column: string
  type: string
}

/** The header's table and key, checked on the catalog: the table exists, the key is one of its NOT NULL columns. */
async function keyOf(c: pg.ClientBase, d: BatchedDeclaration): Promise<Key> {
  const table = d.table.map(quoteIdent).join('.')
  const { rows } = await c.query<{ found: boolean; type: string | null; notnull: boolean | null }>(
    `select to_regclass($1) is not null as found, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull
       from (select 1) x left join pg_attribute a on a.attrelid = to_regclass($1) and a.attname = $2 and a.attnum > 0 and not a.attisdropped`,
    [table, d.key],
  )
  const r = rows[0]
  if (!r.found) throw new BatchedBackfillError('42P01', `batched backfill: table ${d.table.join('.')} (the header's table=) does not exist`)
  if (!r.type) throw new BatchedBackfillError('42703', `batched backfill: ${d.table.join('.')} has no column ${d.key} (the header's key=)`)
  if (!r.notnull)
    throw new BatchedBackfillError(
      '22023',
      `batched backfill: key column ${d.table.join('.')}.${d.key} allows NULL, and rows with a NULL key are in no batch`,
      'use the primary key (or another NOT NULL column) as key=',
    )
  return { table, column: quoteIdent(d.key), type: r.type }
}

/** The batch's range: the next `size` keys after `after` (none: from the first key). */
const rangeQuery = (k: Key, from: boolean) =>
  `select min(k)::text as first, max(k)::text as last, count(*)::int as n
     from (select ${k.column} as k from ${k.table} ${from ? `where ${k.column} > $2::${k.type}` : ''} order by ${k.column} limit $1) s`

/** Runs a batched script whole, as one statement over every key (replays on scratch databases: one transaction, no progress). */
export async function runWhole(c: pg.ClientBase, sql: string): Promise<void> {
  const d = batchedDeclaration(sql)
  if (!d) {
    await c.query(sql)
    return
  }
  const k = await keyOf(c, d)
  const { rows } = await c.query<{ first: string | null; last: string | null }>(
    `select min(${k.column})::text as first, max(${k.column})::text as last from ${k.table}`,
  )
  await c.query(sql, [rows[0].first, rows[0].last])
}

async function estimatedRows(c: pg.ClientBase, k: Key): Promise<number> {
  const { rows } = await c.query<{ n: number }>(`select reltuples::float8 as n from pg_class where oid = $1::regclass`, [k.table])
  if (rows[0] && rows[0].n >= 0) return Math.round(rows[0].n)
  return Number((await c.query<{ n: string }>(`select count(*)::text as n from ${k.table}`)).rows[0].n)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const codeOf = (e: unknown) => (e as { code?: string })?.code

/** The next batch's size: aimed at the target time, at most doubling or halving, within 1 … MAX_BATCH_SIZE. */
export function nextSize(size: number, ms: number, targetMs: number): number {
  const aimed = Math.round((size * targetMs) / Math.max(ms, 1))
  return Math.max(1, Math.min(MAX_BATCH_SIZE, size * 2, Math.max(Math.floor(size / 2), aimed)))
}

/**
 * Runs a batched backfill (see above) to its end, from the progress an earlier run left. Returns the
 * final progress; throws the database's error of a batch that failed (that batch rolled back, the
 * ones before it committed, their progress kept).
 */
export async function runBatched(o: BatchedRun): Promise<BatchProgress> {
  let d: BatchedDeclaration
  try {
    d = batchedDeclaration(o.script)!
  } catch (e) {
    // Reported with the migration, as the database's errors are (P3018): nothing was run.
    throw new BatchedBackfillError('42601', (e as Error).message)
  }
  const c = o.client
  const boundMs = o.retry.batchTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS
  const k = await keyOf(c, d)
  await ensureProgressTable(c)
  const id: ProgressKey = {
    history: o.history?.schema ?? (o.progressName ? await historySchemaOf(c) : ''),
    migration: o.history?.migration ?? o.progressName ?? '',
    checksum: createHash('sha256').update(o.script).digest('hex'),
  }
  const where = `history = $1 and migration = $2 and checksum = $3`
  const keyArgs = [id.history, id.migration, id.checksum]
  // An earlier checksum of the same migration (the file was changed before it was run again) starts over.
  if (id.migration) await c.query(`delete from ${PROGRESS_TABLE} where history = $1 and migration = $2 and checksum <> $3`, keyArgs)
  await c.query(`insert into ${PROGRESS_TABLE} (history, migration, checksum) values ($1, $2, $3) on conflict do nothing`, keyArgs)
  const { rows: start } = await c.query<{ last_key: string | null; walked: string; changed: string; batches: number }>(
    `select last_key, rows_walked::text as walked, rows_changed::text as changed, batches from ${PROGRESS_TABLE} where ${where}`,
    keyArgs,
  )
  const p: BatchProgress = {
    ...(o.history ? { migration: o.history.migration } : {}),
    table: d.table.join('.'),
    batches: start[0]?.batches ?? 0,
    walked: Number(start[0]?.walked ?? 0),
    changed: Number(start[0]?.changed ?? 0),
    estimatedRows: await estimatedRows(c, k),
    ...(start[0]?.last_key != null ? { lastKey: start[0].last_key } : {}),
    size: d.size,
    resumed: start[0]?.last_key != null,
    done: false,
  }
  o.retry.onBatch?.({ ...p })
  const targetMs = Math.max(1, Math.floor(boundMs / BATCH_TARGET_SHARE))
  let deadlocks = 0
  for (;;) {
    let result: { done: true } | { done: false; last: string; walked: number; changed: number; ms: number; transactionMs: number }
    try {
      result = await tries(o, boundMs, async (lockMs) => {
        // One round trip opens the batch's transaction with its timeouts.
        const check = o.version >= 140000 ? `; set local client_connection_check_interval = '1s'` : ''
        const began = performance.now()
        try {
          await c.query(`begin; set local lock_timeout = '${lockMs}ms'; set local statement_timeout = '${boundMs}ms'${check}`)
          const { rows: held } = await c.query<{ last_key: string | null }>(`select last_key from ${PROGRESS_TABLE} where ${where} for update`, keyArgs)
          if (!held.length)
            throw new BatchedBackfillError('55000', `batched backfill of ${p.table}: its progress row in ${PROGRESS_TABLE} went away while it ran`)
          const after = held[0].last_key
          const { rows } = await c.query<{ first: string | null; last: string | null; n: number }>(
            rangeQuery(k, after !== null),
            after !== null ? [p.size, after] : [p.size],
          )
          const { first, last, n } = rows[0]
          if (!n || first === null || last === null) {
            await c.query(`delete from ${PROGRESS_TABLE} where ${where}`, keyArgs)
            if (o.history) await c.query(`update ${o.history.table} set finished_at = now() where id = $1`, [o.history.id])
            await o.finish?.(c)
            await c.query('commit')
            return { done: true as const }
          }
          const t0 = performance.now()
          const changed = (await c.query(o.script, [first, last])).rowCount ?? 0
          const ms = Math.round(performance.now() - t0)
          // clock_timestamp(): the moment just before the commit, which `status` shows as the last batch's (now() is the transaction's start).
          await c.query(
            `update ${PROGRESS_TABLE} set last_key = $4, rows_walked = rows_walked + $5, rows_changed = rows_changed + $6, batches = batches + 1, updated_at = clock_timestamp() where ${where}`,
            [...keyArgs, last, n, changed],
          )
          await c.query('commit')
          return { done: false as const, last, walked: n, changed, ms, transactionMs: performance.now() - began }
        } catch (e) {
          await c.query('rollback').catch(() => undefined)
          throw e
        }
      })
    } catch (e) {
      if (codeOf(e) === '57014' && p.size > 1) {
        // The batch ran out of its bound (rolled back): the same range again, with half the rows.
        p.size = Math.max(1, Math.floor(p.size / 2))
        continue
      }
      if (codeOf(e) === '40P01' && ++deadlocks < DEADLOCK_TRIES) continue // the batch was the victim, and rolled back
      throw e
    }
    if (result.done) {
      p.done = true
      o.retry.onBatch?.({ ...p })
      return p
    }
    p.batches++
    p.walked += result.walked
    p.changed += result.changed
    p.lastKey = result.last
    p.lastBatchMs = result.ms
    if (result.walked >= p.size) p.size = nextSize(p.size, result.ms, targetMs)
    o.retry.onBatch?.({ ...p })
    const rest = restAfterMs(result.transactionMs, d.pauseMs)
    if (rest > 0) await sleep(rest)
  }
}

/** One batch's tries: with a watcher, lock timeouts with retries (src/db/lock-retry.ts); without, one try. The lock timeout is at most half the bound. */
function tries<T>(o: BatchedRun, boundMs: number, attempt: (lockMs: number) => Promise<T>): Promise<T> {
  const cap = Math.max(1, Math.floor(boundMs / 2))
  if (!o.watch) return attempt(Math.min(o.retry.lockTimeoutMs, cap))
  return withLockRetries({
    settings: o.retry,
    pid: o.watch.pid,
    watcher: o.watch.watcher,
    ...(o.history ? { migration: o.history.migration } : {}),
    attempt: (timeout) => attempt(Math.min(timeout, cap)),
  })
}
