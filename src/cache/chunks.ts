/**
 * How a rebuild writes beside the live services: in short transactions of at most MAX_CHUNK_ROWS
 * rows each, in key order, every one of which gives way to the services instead of making them wait.
 *
 * - Each chunk is one statement in a transaction of its own (one simple-query message: an error rolls
 *   it back on the server at once, without waiting for the client's ROLLBACK).
 * - It waits at most `lockTimeoutMs` for a row a service holds (lock_timeout). That is below
 *   deadlock_timeout, so the rebuild's wait ends before PostgreSQL looks for a deadlock: a service
 *   transaction that locks two rows in the opposite order is never chosen as the victim, the
 *   rebuild's chunk gives way instead, and is tried again after a pause.
 * - It runs at most `holdMs` (statement_timeout, half of deadlock_timeout): the rows it has locked are
 *   free again by then, so a service statement waits for a rebuild at most that long. A chunk that runs
 *   out of it (a slow server) is tried again with half the rows.
 * - A chunk that still cannot get its rows once ARTSTORE_LOCK_RETRY_FOR (default 3 min) has passed
 *   fails the run, naming the sessions it waited for (pid, application_name, state, transaction age,
 *   the start of the query: as deploy's lock retries do, src/db/lock-retry.ts).
 */
import type pg from 'pg'
import { isDeadlock } from '../db/lock.ts'
import { describeBlockers, isLockTimeout, lockRetrySettings, pauseAfterMs, watchBlockers, type Blocker, type LockWait } from '../db/lock-retry.ts'

/** Rows per chunk at most. */
export const MAX_CHUNK_ROWS = 1000
/** A chunk's lock_timeout at most, in ms (a quarter of deadlock_timeout when that is shorter). */
export const CHUNK_LOCK_TIMEOUT_MS = 100
/** A chunk's statement_timeout at most, in ms (half of deadlock_timeout when that is shorter): the bound of a service's wait. */
export const CHUNK_HOLD_MS = 500

export interface ChunkBounds {
  lockTimeoutMs: number
  holdMs: number
  maxRows: number
  /** How long one chunk may go on being retried, in ms. */
  retryForMs: number
  /** The writing connection's backend and a connection of its own that watches whom a chunk waits for; without it no session is named. */
  watch?: { pid: number; watcher: Pick<pg.Pool, 'query'> }
  /** Told of each try of a chunk that ran out of its lock_timeout, with the sessions it waited for (the last with `gaveUp`). */
  onLockWait?: (w: LockWait) => void
}

/** The bounds on this server: CHUNK_LOCK_TIMEOUT_MS and CHUNK_HOLD_MS, lowered to fit its deadlock_timeout. */
export async function chunkBounds(c: pg.ClientBase, env: Record<string, string | undefined>, maxRows = MAX_CHUNK_ROWS): Promise<ChunkBounds> {
  const { rows } = await c.query<{ ms: number }>(`select setting::int as ms from pg_settings where name = 'deadlock_timeout'`)
  const deadlockMs = Math.max(4, rows[0]?.ms ?? 1000)
  return {
    lockTimeoutMs: Math.min(CHUNK_LOCK_TIMEOUT_MS, Math.floor(deadlockMs / 4)),
    holdMs: Math.min(CHUNK_HOLD_MS, Math.floor(deadlockMs / 2)),
    maxRows: Math.max(1, Math.min(maxRows, MAX_CHUNK_ROWS)),
    retryForMs: lockRetrySettings({ env }).retryForMs,
  }
}

/** PostgreSQL's query_canceled: here, the chunk's statement_timeout ran out. */
const isStatementTimeout = (e: unknown) => (e as { code?: string })?.code === '57014'

/** A chunk that could not write its rows within ARTSTORE_LOCK_RETRY_FOR; `blockers`: the sessions its tries last waited for. */
export class ChunkBlockedError extends Error {
  code = '55P03'
  constructor(
    what: string,
    seconds: number,
    readonly blockers: Blocker[] = [],
  ) {
    super(
      blockers.length
        ? `rows of ${what} stayed locked for ${seconds} s (ARTSTORE_LOCK_RETRY_FOR), held by ${describeBlockers(blockers)}`
        : `rows of ${what} stayed locked by other sessions, or too slow to write, for ${seconds} s (ARTSTORE_LOCK_RETRY_FOR)`,
    )
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Runs `statements` (SQL without parameters, `;`-separated) as one transaction within the bounds:
 * retried after a lock timeout or a deadlock, and `onSlow()` told of a statement timeout (then
 * retried too, unless it throws). Returns the results of the statements.
 */
export async function withinBounds(
  c: pg.ClientBase,
  b: ChunkBounds,
  what: string,
  statements: () => string,
  onSlow: () => void = () => undefined,
): Promise<pg.QueryResult[]> {
  const head = `select set_config('lock_timeout', '${b.lockTimeoutMs}ms', true), set_config('statement_timeout', '${b.holdMs}ms', true)`
  const started = Date.now()
  let blockers: Blocker[] = []
  for (let attempt = 1; ; attempt++) {
    // Polled a few times within the lock_timeout: once the try has timed out, its blockers are no longer in pg_blocking_pids.
    const watch = b.watch ? watchBlockers(b.watch.watcher, b.watch.pid, Math.max(20, Math.floor(b.lockTimeoutMs / 3))) : undefined
    try {
      const results = (await c.query(`${head}; ${statements()}`)) as unknown as pg.QueryResult[]
      return results.slice(1)
    } catch (e) {
      const seen = (await watch?.stop()) ?? []
      if (seen.length) blockers = seen
      const slow = isStatementTimeout(e)
      if (!slow && !isLockTimeout(e) && !isDeadlock(e)) throw e
      const waitedMs = Date.now() - started
      const gaveUp = waitedMs >= b.retryForMs
      const pause = pauseAfterMs(attempt)
      if (isLockTimeout(e)) {
        b.onLockWait?.({
          what: `a chunk of ${what}`,
          attempt,
          lockTimeoutMs: b.lockTimeoutMs,
          waitedMs,
          retryForMs: b.retryForMs,
          nextTryInMs: gaveUp ? 0 : pause,
          gaveUp,
          blockers: seen,
        })
      }
      if (gaveUp) throw new ChunkBlockedError(what, Math.round(b.retryForMs / 1000), blockers)
      if (slow) onSlow()
      await sleep(pause)
    } finally {
      await watch?.stop()
    }
  }
}

export interface KeyList {
  /** The key expression, e.g. `s.file_id`, over `from`. */
  key: string
  /** SQL type of the key (a literal of it is cast to it). */
  keyType: string
  /** FROM clause and condition of the keys, e.g. `artstore_cache_stage s where s.good`. */
  from: string
}

/** Told after each chunk commits: the keys done so far, and the rows the chunks' last statements reported. */
export type ChunkDone = (p: { keys: number; rows: number }) => void

/**
 * Runs `write(range)` on every chunk of the keys of `list`, in key order: `range` is an SQL condition
 * on the key (above the last chunk's, up to this chunk's last). Each chunk is one transaction
 * (withinBounds); a chunk that runs out of time is tried again with half the rows, and the rows grow
 * back to the maximum as chunks succeed in a quarter of the time they may take. Returns the sum of the rows the last statement of each
 * chunk reports.
 */
export async function forEachChunk(
  c: pg.ClientBase,
  b: ChunkBounds,
  what: string,
  list: KeyList,
  write: (range: string) => string,
  done?: ChunkDone,
): Promise<number> {
  let after: string | null = null
  let size = b.maxRows
  let total = 0
  let keys = 0
  const literal = (v: string) => `${c.escapeLiteral(v)}::${list.keyType}`
  for (;;) {
    const above: string = after === null ? '' : ` and ${list.key} > ${literal(after)}`
    const { rows } = await c.query<{ last: string | null; n: string }>(
      `select k::text as last, count(*) over () as n from (select ${list.key} as k from ${list.from}${above} order by 1 limit ${size}) x order by k desc limit 1`,
    )
    const last = rows[0]?.last
    if (last === null || last === undefined) return total
    let slow = false
    const range = `${list.key} <= ${literal(last)}${above}`
    const started = Date.now()
    const results = await withinBounds(
      c,
      b,
      what,
      () => write(range),
      () => {
        slow = true
        if (size > 1) throw Object.assign(new Error('smaller chunk'), { smaller: true })
      },
    ).catch((e) => {
      if ((e as { smaller?: boolean }).smaller) return undefined
      throw e
    })
    if (!results) {
      size = Math.max(1, Math.floor(size / 2))
      continue
    }
    total += results.at(-1)?.rowCount ?? 0
    keys += Number(rows[0].n)
    done?.({ keys, rows: total })
    after = last
    // Back to more rows only while a chunk is well within its bound: a loaded server is not made to time out again and again.
    if (!slow && Date.now() - started < b.holdMs / 4) size = Math.min(b.maxRows, size * 2)
  }
}
