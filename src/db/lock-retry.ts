import type pg from 'pg'
import type { BatchProgress } from '../backfill/run.ts'
import { FailureError, UsageError } from '../errors.ts'

/**
 * Lock timeouts with retries for the statements of a migration (GitLab's `with_lock_retries`): each try
 * runs the whole migration in one transaction that waits at most a short `lock_timeout` for each lock.
 * A try that times out (55P03) is rolled back whole, and after a pause the next try goes, with a longer
 * timeout, until the budget is spent. While a try waits, the statements queued behind its lock request
 * (the services' plain SELECTs) wait at most that try's timeout.
 */

/**
 * The first try's lock_timeout; each later one doubles, up to the configured timeout. A service's
 * statement queued behind a try waits at most that try's timeout, so the default keeps every try at
 * 50 ms: beside a 20 s blocker the 13 tries stand in the table's queue 0.65 s, about 3 % of the time
 * (later on, 50 ms in every 2.05 s), and a queued statement waits at most 50 ms. (With 100 ms doubling to 500 ms and the
 * same pauses the queue was blocked about 20 % of the time, for up to 500 ms at once: the services'
 * p99 rose by some 200 ms.) A table whose own statements hold their locks longer than 50 ms needs a
 * longer --lock-timeout: the tries then grow to it, 50 ms doubling.
 */
export const FIRST_TRY_TIMEOUT_MS = 50
/** The default bound of one try's wait for a lock (ARTSTORE_LOCK_TIMEOUT, --lock-timeout). */
export const DEFAULT_LOCK_TIMEOUT_MS = 50
/** The default budget of all tries of one migration (ARTSTORE_LOCK_RETRY_FOR, --lock-retry-for). */
export const DEFAULT_LOCK_RETRY_FOR_MS = 3 * 60_000
/** The pause after the first try; each later one doubles, up to MAX_PAUSE_MS. */
export const FIRST_PAUSE_MS = 100
export const MAX_PAUSE_MS = 2_000
/** The default bound of one batch of a batched backfill (ARTSTORE_BATCH_TIMEOUT; see src/backfill/run.ts). */
export const DEFAULT_BATCH_TIMEOUT_MS = 1_000

export interface LockRetrySettings {
  /** The longest lock_timeout of a try, in ms. */
  lockTimeoutMs: number
  /** How long the tries of one migration may go on, in ms (0: one try only). */
  retryForMs: number
  /** Told of each try that timed out, and of the last one (`gaveUp`). */
  onLockWait?: (w: LockWait) => void
  /** The bound of one batch of a batched backfill, in ms (its statement_timeout); default ARTSTORE_BATCH_TIMEOUT, else 1 s. */
  batchTimeoutMs?: number
  /** Told of a batched backfill's progress: at its start and after each batch. */
  onBatch?: (p: BatchProgress) => void
}

/** A session a try waited for (from pg_blocking_pids): what names it, never its query's parameters. */
export interface Blocker {
  pid: number
  application?: string
  state?: string
  /** How long its transaction has been open, in seconds (none outside a transaction). */
  transactionSeconds?: number
  /** The start of its current or last query (the text only: parameters are never in it). */
  query?: string
}

/** A try that ran out of its lock_timeout. */
export interface LockWait {
  /** The migration whose try it was, when the history names it. */
  migration?: string
  /** What the try wrote when it was no migration's: `a chunk of storage_elem_01_files` (cache rebuild). */
  what?: string
  /** 1 for the first try. */
  attempt: number
  /** That try's lock_timeout, in ms. */
  lockTimeoutMs: number
  /** Time since the first try started, in ms. */
  waitedMs: number
  /** The budget, in ms. */
  retryForMs: number
  /** The pause before the next try, in ms (0 when it gave up). */
  nextTryInMs: number
  /** The budget is spent: this was the last try, and the migration is not applied. */
  gaveUp: boolean
  /** The sessions it waited for, as last seen while it waited. */
  blockers: Blocker[]
}

export class InvalidLockDurationError extends UsageError {
  constructor(what: string, given: string) {
    super(`${what} "${given}" is not a duration: give a number with ms, s, m or h (e.g. 200ms, 5s, 10m)`)
  }
}

/** Milliseconds of a duration as people write it: `200ms`, `5s`, `10m`, `1h` (a bare number is seconds). */
export function parseDurationMs(given: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(given)
  if (!m) throw new InvalidLockDurationError(what, given)
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h'])
}

export interface LockRetryInput {
  /** --lock-timeout: a duration. */
  lockTimeout?: string
  /** --lock-retry-for: a duration. */
  lockRetryFor?: string
  env?: Record<string, string | undefined>
  onLockWait?: (w: LockWait) => void
  onBatch?: (p: BatchProgress) => void
}

/**
 * The settings of a command: its options, else ARTSTORE_LOCK_TIMEOUT / ARTSTORE_LOCK_RETRY_FOR (and
 * ARTSTORE_BATCH_TIMEOUT), else the defaults. Bad input throws.
 */
export function lockRetrySettings(o: LockRetryInput = {}): LockRetrySettings {
  const env = o.env ?? process.env
  const pick = (option: string | undefined, optionName: string, variable: string, fallback: number) =>
    option !== undefined
      ? parseDurationMs(option, optionName)
      : env[variable] !== undefined && env[variable] !== ''
        ? parseDurationMs(env[variable]!, variable)
        : fallback
  const lockTimeoutMs = pick(o.lockTimeout, '--lock-timeout', 'ARTSTORE_LOCK_TIMEOUT', DEFAULT_LOCK_TIMEOUT_MS)
  if (lockTimeoutMs < 1)
    throw new InvalidLockDurationError(
      o.lockTimeout !== undefined ? '--lock-timeout' : 'ARTSTORE_LOCK_TIMEOUT',
      `${o.lockTimeout ?? env.ARTSTORE_LOCK_TIMEOUT}`,
    )
  return {
    lockTimeoutMs,
    retryForMs: pick(o.lockRetryFor, '--lock-retry-for', 'ARTSTORE_LOCK_RETRY_FOR', DEFAULT_LOCK_RETRY_FOR_MS),
    batchTimeoutMs: Math.max(20, pick(undefined, '', 'ARTSTORE_BATCH_TIMEOUT', DEFAULT_BATCH_TIMEOUT_MS)),
    ...(o.onLockWait ? { onLockWait: o.onLockWait } : {}),
    ...(o.onBatch ? { onBatch: o.onBatch } : {}),
  }
}

/**
 * The lock_timeout of try `attempt` (1-based): 50 ms, doubling, never above the configured bound.
 * Without retries (a budget of 0) the one try waits the whole bound.
 */
export const tryTimeoutMs = (attempt: number, s: Pick<LockRetrySettings, 'lockTimeoutMs' | 'retryForMs'>) =>
  s.retryForMs === 0 ? s.lockTimeoutMs : Math.min(FIRST_TRY_TIMEOUT_MS * 2 ** Math.min(attempt - 1, 20), s.lockTimeoutMs)

/** The pause after try `attempt`: 100 ms, doubling, at most 2 s. */
export const pauseAfterMs = (attempt: number) => Math.min(FIRST_PAUSE_MS * 2 ** Math.min(attempt - 1, 20), MAX_PAUSE_MS)

/** PostgreSQL's lock_not_available: a lock_timeout ran out. */
export const LOCK_NOT_AVAILABLE = '55P03'

export const isLockTimeout = (e: unknown) => (e as { code?: string })?.code === LOCK_NOT_AVAILABLE

const BLOCKERS = `select a.pid, nullif(a.application_name, '') as app, a.state,
       floor(extract(epoch from now() - a.xact_start))::int as xact_seconds,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 80) as query
  from pg_stat_activity a where a.pid = any(pg_blocking_pids($1)) order by a.pid`

/** The sessions backend `pid` waits for right now (none when it does not wait). */
export async function blockersOf(q: Pick<pg.Pool, 'query'>, pid: number): Promise<Blocker[]> {
  const { rows } = await q.query<{ pid: number; app: string | null; state: string | null; xact_seconds: number | null; query: string | null }>(BLOCKERS, [pid])
  return rows.map((r) => ({
    pid: r.pid,
    ...(r.app ? { application: r.app } : {}),
    ...(r.state ? { state: r.state } : {}),
    ...(r.xact_seconds !== null ? { transactionSeconds: r.xact_seconds } : {}),
    ...(r.query ? { query: r.query } : {}),
  }))
}

/** One blocker in words: `pid 4711 (psql), idle in transaction, transaction open 12 s: SELECT name FROM …`. */
export const describeBlocker = (b: Blocker) =>
  `pid ${b.pid}${b.application ? ` (${b.application})` : ''}${b.state ? `, ${b.state}` : ''}${
    b.transactionSeconds !== undefined ? `, transaction open ${b.transactionSeconds} s` : ''
  }${b.query ? `: ${b.query}` : ''}`

export const describeBlockers = (bs: readonly Blocker[]) => (bs.length ? bs.map(describeBlocker).join('; ') : 'sessions that had let go when looked at')

/**
 * Watches backend `pid` while a try runs: every third of its timeout, who it waits for. `stop()` ends
 * the watch and gives the last sessions seen.
 */
export function watchBlockers(q: Pick<pg.Pool, 'query'>, pid: number, everyMs: number): { stop: () => Promise<Blocker[]> } {
  let seen: Blocker[] = []
  let stopped = false
  let inFlight: Promise<void> = Promise.resolve()
  const tick = () => {
    if (stopped) return
    inFlight = blockersOf(q, pid)
      .then((b) => {
        if (b.length) seen = b
      })
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, everyMs)
      })
  }
  let timer: NodeJS.Timeout | undefined = setTimeout(tick, everyMs)
  return {
    stop: async () => {
      stopped = true
      clearTimeout(timer)
      await inFlight
      return seen
    },
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The lock waits of a command: tries that ran out of their lock_timeout, and whom they waited for. */
export interface LockWaits {
  /** Tries that timed out (and were rolled back). */
  timedOut: number
  /** Sessions they waited for, each once (as last seen). */
  blockers: Blocker[]
}

/** The lock waits of a run, summed up: how many tries timed out, and each session they waited for once. */
export function lockWaitsOf(waits: readonly LockWait[]): LockWaits {
  const byPid = new Map<number, Blocker>()
  for (const w of waits) for (const b of w.blockers) byPid.set(b.pid, b)
  return { timedOut: waits.length, blockers: [...byPid.values()] }
}

/** The last try of a spent budget in words: `within 2 s (9 tries, each waiting at most 200 ms; held by pid 4711 (psql), …)`. */
export const describeGaveUp = (w: LockWait) =>
  `within ${Math.round(w.retryForMs / 100) / 10} s (${w.attempt} ${w.attempt === 1 ? 'try' : 'tries'}, each waiting at most ${w.lockTimeoutMs} ms; held by ${describeBlockers(w.blockers)})`

/** A command whose budget was spent before it got its locks: every try was rolled back, nothing changed. */
export class LocksNotGrantedError extends FailureError {
  readonly blockers: Blocker[]
  constructor(what: string, gaveUp: LockWait, next: string) {
    super(
      `${what} never got its locks ${describeGaveUp(gaveUp)}: nothing was changed; when those sessions have ended, run ${next} (or wait longer: --lock-retry-for 10m)`,
    )
    this.blockers = gaveUp.blockers
  }
}

/**
 * `withLockRetries` for a command of its own (resolve, adopt): the settings, the backend's pid and a
 * watcher connection, and every timed-out try collected. A spent budget throws `gaveUp(last try)`'s
 * error instead of the 55P03.
 */
export async function withCommandLockRetries<T>(
  c: Pick<pg.ClientBase, 'query'>,
  watcherOf: <W>(fn: (watcher: Pick<pg.Pool, 'query'>) => Promise<W>) => Promise<W>,
  settings: LockRetrySettings,
  o: { migration?: string; gaveUp: (w: LockWait) => Error },
  attempt: (timeoutMs: number) => Promise<T>,
): Promise<{ value: T; waits: LockWait[] }> {
  const waits: LockWait[] = []
  const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid
  const tries = { ...settings, onLockWait: (w: LockWait) => (waits.push(w), settings.onLockWait?.(w)) }
  try {
    const value = await watcherOf((watcher) => withLockRetries({ settings: tries, pid, watcher, ...(o.migration ? { migration: o.migration } : {}), attempt }))
    return { value, waits }
  } catch (e) {
    const last = waits.at(-1)
    if (last?.gaveUp && isLockTimeout(e)) throw o.gaveUp(last)
    throw e
  }
}

export interface LockTries<T> {
  settings: LockRetrySettings
  /** The backend the tries run on, and a connection of its own to watch whom it waits for. */
  pid: number
  watcher: Pick<pg.Pool, 'query'>
  /** The migration the tries are of, for onLockWait. */
  migration?: string
  /** One whole try, in a transaction of its own that it rolls back when it throws: it sets `lock_timeout` to `timeoutMs`. */
  attempt: (timeoutMs: number) => Promise<T>
}

/**
 * Runs `attempt` until it does not run out of its lock_timeout: each try's timeout from tryTimeoutMs,
 * a pause (pauseAfterMs) after each that did, until the budget is spent; then the last try's 55P03 is
 * thrown. Any other error is thrown at once. Each timed-out try, with whom it waited for, goes to
 * `onLockWait` (the last with `gaveUp`).
 */
export async function withLockRetries<T>(o: LockTries<T>): Promise<T> {
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    const timeout = tryTimeoutMs(attempt, o.settings)
    const watch = watchBlockers(o.watcher, o.pid, Math.max(20, Math.floor(timeout / 3)))
    try {
      return await o.attempt(timeout)
    } catch (e) {
      const blockers = await watch.stop()
      if (!isLockTimeout(e)) throw e
      const waitedMs = Date.now() - started
      const pause = pauseAfterMs(attempt)
      const gaveUp = waitedMs + pause >= o.settings.retryForMs
      o.settings.onLockWait?.({
        ...(o.migration ? { migration: o.migration } : {}),
        attempt,
        lockTimeoutMs: timeout,
        waitedMs,
        retryForMs: o.settings.retryForMs,
        nextTryInMs: gaveUp ? 0 : pause,
        gaveUp,
        blockers,
      })
      if (gaveUp) throw e
      await sleep(pause)
    } finally {
      await watch.stop()
    }
  }
}
