import type pg from 'pg'
import { RefusalError, UsageError } from '../errors.ts'

/**
 * The advisory-lock key Prisma's migrate takes for deploy and resolve: holding the same one makes our
 * own schema changes wait for a running `migrate deploy`, and the other way round.
 */
export const MIGRATION_LOCK_KEY = 72707369

export class LockTimeoutError extends RefusalError {
  constructor(seconds: number) {
    super(`another migration holds this database's migration lock (waited ${seconds} s): try again when it has finished`)
  }
}

/**
 * Runs one lock statement waiting at most `waitSeconds` (lock_timeout, local to the transaction when
 * `local`, else restored afterwards); a wait that runs out becomes `timedOut()`'s error.
 */
async function acquireWithin(
  c: pg.ClientBase,
  waitSeconds: number,
  sql: string,
  params: unknown[],
  timedOut: () => Promise<Error> | Error,
  local = false,
): Promise<void> {
  await c.query(`set ${local ? 'local ' : ''}lock_timeout = '${waitSeconds}s'`)
  try {
    await c.query(sql, params)
  } catch (e) {
    if ((e as { code?: string }).code === '55P03') throw await timedOut()
    throw e
  } finally {
    await c.query(local ? 'set local lock_timeout = 0' : 'reset lock_timeout').catch(() => undefined)
  }
}

/**
 * Runs `fn` inside one transaction that holds the migration lock; commits when `fn` resolves, rolls
 * back when it throws. Waits at most `waitSeconds` for the lock.
 */
export function withMigrationTransaction<T>(c: pg.ClientBase, fn: () => Promise<T>, waitSeconds = 30): Promise<T> {
  return withTransaction(c, async () => {
    await acquireWithin(c, waitSeconds, 'select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY], () => new LockTimeoutError(waitSeconds), true)
    return fn()
  })
}

/**
 * The backend that holds this database's migration lock or its deploy turn (a deploy, rollback or
 * resolve at work; a deploy holds its turn between two migrations too), if any: read off pg_locks,
 * taking neither.
 */
export async function migrationLockHolder(c: pg.ClientBase): Promise<number | undefined> {
  const { rows } = await c.query<{ pid: number }>(
    `select pid from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
        and granted and pid <> pg_backend_pid()
        and ((classid = 0 and objid = $1 and objsubid = 1) or (classid = $2::bigint::oid and objid = 0 and objsubid = 2))
      order by objsubid limit 1`,
    [MIGRATION_LOCK_KEY, DEPLOY_TURN_CLASS],
  )
  return rows[0]?.pid
}

/** PostgreSQL's deadlock_detected. */
const DEADLOCK = '40P01'

export const isDeadlock = (e: unknown): boolean => {
  const err = e as { code?: string; message?: string }
  return err?.code === DEADLOCK || /deadlock detected/.test(String(err?.message ?? ''))
}

/**
 * Runs `fn` again (up to `attempts` times, a moment apart) when PostgreSQL chose it as the victim of a
 * deadlock. A migration that builds an index CONCURRENTLY waits for every transaction older than it,
 * among them another deploy or rollback that is waiting for the migration lock it holds: PostgreSQL
 * breaks that cycle by failing the waiter, before it has changed anything. Once the index is built the
 * lock is free, and the waiter's second try goes through.
 */
export async function retryOnDeadlock<T>(fn: () => Promise<T>, attempts = 20, pauseMs = 250): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (e) {
      if (!isDeadlock(e) || attempt >= attempts) throw e
      await new Promise((r) => setTimeout(r, pauseMs))
    }
  }
}

/** The advisory-lock class of cache rebuilds: the two-key form, a space apart from Prisma's one-key migration lock. */
export const CACHE_LOCK_CLASS = 1095914563 // 'ARTC'

/** Who holds a cache lock in this database (pg_locks lists every database's), for the message: pid, since when, from where. */
async function cacheLockHolder(c: pg.ClientBase, what: string): Promise<string> {
  const { rows } = await c.query<{ pid: number; since: string; app: string | null; addr: string | null }>(
    `select a.pid, to_char(a.xact_start at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' as since, nullif(a.application_name, '') as app, a.client_addr::text as addr
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = $1::bigint::oid
        and l.objid = ((hashtext(current_schema() || '.' || $2)::bigint + 4294967296) % 4294967296)::oid and l.objsubid = 2`,
    [CACHE_LOCK_CLASS, what],
  )
  const h = rows[0]
  return h
    ? `backend pid ${h.pid}${h.app ? ` (${h.app})` : ''}${h.addr ? ` from ${h.addr}` : ''}${h.since ? `, in its transaction since ${h.since}` : ''}`
    : 'a session that has just ended'
}

export class CacheLockedError extends RefusalError {
  constructor(what: string, seconds: number, holder: string) {
    super(`another cache rebuild of ${what} is running (${holder}; waited ${seconds} s): try again when it has finished`)
  }
}

/**
 * Runs `fn` holding the cache lock of one table (a session advisory lock in its own key space, so a
 * rebuild never blocks a deploy or a rollback of any module): rebuilds of one cache run one at a time.
 * Waits at most `waitSeconds`, then names the holder.
 */
export async function withCacheLock<T>(c: pg.ClientBase, what: string, fn: () => Promise<T>, waitSeconds = 30): Promise<T> {
  await acquireWithin(
    c,
    waitSeconds,
    `select pg_advisory_lock($1, hashtext(current_schema() || '.' || $2))`,
    [CACHE_LOCK_CLASS, what],
    async () => new CacheLockedError(what, waitSeconds, await cacheLockHolder(c, what)),
  )
  try {
    return await fn()
  } finally {
    await c.query(`select pg_advisory_unlock($1, hashtext(current_schema() || '.' || $2))`, [CACHE_LOCK_CLASS, what]).catch(() => undefined)
  }
}

/** Runs `fn` in one transaction: committed when it resolves (unless `commit: false`, for a dry run), rolled back when it throws. */
export async function withTransaction<T>(c: pg.ClientBase, fn: () => Promise<T>, o: { commit?: boolean } = {}): Promise<T> {
  await c.query('begin')
  try {
    const result = await fn()
    await c.query(o.commit === false ? 'rollback' : 'commit')
    return result
  } catch (e) {
    await c.query('rollback').catch(() => undefined)
    throw e
  }
}

/** The advisory-lock class of deploy turns (two-key form, apart from Prisma's one-key lock). */
export const DEPLOY_TURN_CLASS = 1095914573 // 'ARTM'

/** How long a deploy or rollback waits for the deploy turn unless ARTSTORE_TURN_TIMEOUT says otherwise. */
export const DEFAULT_TURN_TIMEOUT_SECONDS = 30

/** The session that holds a database's deploy turn: what a waiting deploy shows, and names when it gives up. */
export interface TurnHolder {
  pid: number
  /** Its application_name (`artstore-db` for this tool's own sessions), when it set one. */
  application?: string
  /** Its client address; none for a local socket. */
  address?: string
}

/** The deploy turn is taken: reported as the wait starts, and again whenever another session takes it meanwhile. */
export interface TurnWait {
  /** Who holds it; none when its holder let go between the try and the look. */
  holder?: TurnHolder
  /** The bound of the wait, in seconds. */
  waitSeconds: number
  /** How long this wait has lasted so far. */
  waitedMs: number
}

export interface DeployTurnOptions {
  /** How long to wait for the turn, in seconds (0: do not wait); default ARTSTORE_TURN_TIMEOUT, else 30. */
  waitSeconds?: number
  /** Told who holds the turn while this one waits (the CLI shows it on a terminal); never called when the turn is free. */
  onWait?: (w: TurnWait) => void
}

export class InvalidDurationError extends UsageError {
  constructor(variable: string, given: string) {
    super(`${variable} "${given}" is not a duration: give seconds or a number with s, m or h (e.g. ${variable}=30s, 2m; 0 to not wait)`)
  }
}

/** Seconds of a duration as people write it: `30`, `30s`, `2m`, `1.5h`. */
export function parseDuration(given: string, variable: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/i.exec(given)
  if (!m) throw new InvalidDurationError(variable, given)
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h']
}

/** The deploy turn's bound from ARTSTORE_TURN_TIMEOUT (bad input refused), else 30 s. */
export function turnTimeoutSeconds(env: Record<string, string | undefined> = process.env): number {
  const given = env.ARTSTORE_TURN_TIMEOUT
  return given === undefined || given === '' ? DEFAULT_TURN_TIMEOUT_SECONDS : parseDuration(given, 'ARTSTORE_TURN_TIMEOUT')
}

/** The turn options of a command: its ARTSTORE_TURN_TIMEOUT (from `env`, default process.env) and its `onTurnWait`. */
export const turnOptions = (o: { env?: Record<string, string | undefined>; onTurnWait?: (w: TurnWait) => void }): DeployTurnOptions => ({
  waitSeconds: turnTimeoutSeconds(o.env ?? process.env),
  ...(o.onTurnWait ? { onWait: o.onTurnWait } : {}),
})

const describeHolder = (h: TurnHolder) => `backend pid ${h.pid}${h.application ? ` (${h.application})` : ''}${h.address ? ` from ${h.address}` : ''}`

export class DeployTurnTimeoutError extends RefusalError {
  constructor(seconds: number, holder?: TurnHolder) {
    super(
      `another deploy or rollback has held this database's deploy turn for over ${seconds} s${holder ? ` (${describeHolder(holder)})` : ''}: try again when it has finished, or wait longer with ARTSTORE_TURN_TIMEOUT (e.g. 5m) (npx artstore-db status shows what is applied)`,
    )
  }
}

/** One try for the turn; when it is taken, who holds it (pg_locks lists every database's: this one's only). */
const TRY_TURN = `with try as (select pg_try_advisory_lock($1, 0) as ok)
select try.ok, h.pid, h.app, h.addr from try left join lateral (
  select a.pid, nullif(a.application_name, '') as app, host(a.client_addr) as addr
    from pg_locks l join pg_stat_activity a on a.pid = l.pid
   where not try.ok and l.locktype = 'advisory' and l.granted and l.classid = $1::bigint::oid and l.objid = 0 and l.objsubid = 2
     and l.database = (select oid from pg_database where datname = current_database())
   limit 1) h on true`

/**
 * Runs `fn` (which applies migrations through the schema engine) in this database's deploy turn:
 * one deploy at a time, the others waiting by polling a lock rather than blocking on it. A deploy
 * blocked on Prisma's migration lock is a transaction that a CREATE INDEX CONCURRENTLY of the deploy
 * in progress waits for, and PostgreSQL breaks that cycle by failing one of them, the index build
 * itself sometimes; an idle session that polls is never waited for. Waits at most `waitSeconds`
 * (ARTSTORE_TURN_TIMEOUT, default 30 s), telling `onWait` who holds the turn; then refuses, naming
 * the holder. A number as the third argument is the bound alone.
 */
export async function withDeployTurn<T>(c: pg.ClientBase, fn: () => Promise<T>, options: DeployTurnOptions | number = {}): Promise<T> {
  const o = typeof options === 'number' ? { waitSeconds: options } : options
  const waitSeconds = o.waitSeconds ?? turnTimeoutSeconds()
  const started = Date.now()
  let shown: number | undefined | null = null
  for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
    const { rows } = await c.query<{ ok: boolean; pid: number | null; app: string | null; addr: string | null }>(TRY_TURN, [DEPLOY_TURN_CLASS])
    const r = rows[0]
    if (r.ok) break
    const holder: TurnHolder | undefined =
      r.pid === null ? undefined : { pid: r.pid, ...(r.app ? { application: r.app } : {}), ...(r.addr ? { address: r.addr } : {}) }
    if (Date.now() - started >= waitSeconds * 1000) throw new DeployTurnTimeoutError(waitSeconds, holder)
    if (holder?.pid !== shown && (holder || shown === null)) {
      shown = holder?.pid
      o.onWait?.({ ...(holder ? { holder } : {}), waitSeconds, waitedMs: Date.now() - started })
    }
    await new Promise((res) => setTimeout(res, pause))
  }
  try {
    return await fn()
  } finally {
    await c.query('select pg_advisory_unlock($1, 0)', [DEPLOY_TURN_CLASS]).catch(() => undefined)
  }
}

/** withDeployTurn with these options, for a caller whose work is the last argument. */
export const inDeployTurn =
  (o: DeployTurnOptions = {}) =>
  <T>(c: pg.ClientBase, fn: () => Promise<T>): Promise<T> =>
    withDeployTurn(c, fn, o)

/**
 * Runs `fn` holding Prisma's migration lock for the session (longer than one transaction: adopt plans
 * with the engine, then applies), waiting at most `waitSeconds` for it.
 */
export async function withSessionMigrationLock<T>(c: pg.ClientBase, fn: () => Promise<T>, waitSeconds = 30): Promise<T> {
  await acquireWithin(c, waitSeconds, 'select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY], () => new LockTimeoutError(waitSeconds))
  try {
    return await fn()
  } finally {
    await c.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined)
  }
}

/**
 * Runs `fn` in one transaction that `fn` decides the end of: committed when it returns `commit: true`,
 * rolled back otherwise (a dry run, a refusal, a failed proof) and whenever it throws.
 */
export async function withDecidedTransaction<T>(c: pg.ClientBase, fn: () => Promise<{ commit: boolean; value: T }>): Promise<{ committed: boolean; value: T }> {
  await c.query('begin')
  try {
    const { commit, value } = await fn()
    await c.query(commit ? 'commit' : 'rollback')
    return { committed: commit, value }
  } catch (e) {
    await c.query('rollback').catch(() => undefined)
    throw e
  }
}
