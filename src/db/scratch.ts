import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { HISTORY_PARAM, parsePgUrl } from '../config/urls.ts'
import { EnvironmentError } from '../errors.ts'
import { onInterrupt } from '../process/cleanup.ts'
import { quietClient, quoteIdent, withClientOf } from './pg-config.ts'

/** The variable that names the server for scratch databases (default: the module's own server). */
export const SCRATCH_URL_VARIABLE = 'ARTSTORE_SCRATCH_URL'

/**
 * The server on which a command working for the database at `targetUrl` creates its scratch
 * databases: ARTSTORE_SCRATCH_URL when set (a URL of the server, or of any database on it: `postgres`
 * when it names none), else the target's own server. Throws InvalidUrlError for a malformed one.
 */
export function scratchServer(targetUrl: string, env: Record<string, string | undefined> = process.env): string {
  const raw = env[SCRATCH_URL_VARIABLE]
  if (!raw) return targetUrl
  let u: URL
  try {
    u = new URL(raw)
    if (u.pathname.length <= 1) u.pathname = '/postgres'
  } catch {
    return parsePgUrl(raw, SCRATCH_URL_VARIABLE).toString() // throws the one-line error
  }
  return parsePgUrl(u.toString(), SCRATCH_URL_VARIABLE).toString()
}

/** The URL of `database` on the same server as `serverUrl`. */
export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl)
  u.pathname = `/${database}`
  u.searchParams.delete('schema')
  u.searchParams.delete(HISTORY_PARAM)
  return u.toString()
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  await withClientOf({ connectionString: databaseUrl(serverUrl, new URL(serverUrl).pathname.slice(1)) }, (c) => c.query(sql))
}

/** Drops and recreates a scratch database (benchmarks); returns its URL. */
export async function recreateDatabase(serverUrl: string, database: string): Promise<string> {
  await onServer(serverUrl, `drop database if exists ${quoteIdent(database)} with (force)`)
  await onServer(serverUrl, `create database ${quoteIdent(database)}`)
  return databaseUrl(serverUrl, database)
}

export const dropDatabase = (serverUrl: string, database: string) => onServer(serverUrl, `drop database if exists ${quoteIdent(database)} with (force)`)

/** Runs `fn` on a fresh database that is dropped afterwards, whatever happens. */
export async function withScratchDatabase<T>(serverUrl: string, database: string, fn: (url: string) => Promise<T>): Promise<T> {
  const url = await recreateDatabase(serverUrl, database)
  try {
    return await fn(url)
  } finally {
    await dropDatabase(serverUrl, database)
  }
}

/** A database name no other run uses: `artstore_<label>_<8 hex>`. */
export const uniqueDatabaseName = (label: string) => `artstore_${label}_${randomBytes(4).toString('hex')}`

/** The advisory-lock class that marks a scratch database as in use by a live run. */
const SCRATCH_LOCK_CLASS = 1095914564 // 'ARTD'
/** The scratch databases this tool makes (and only those are ever dropped as abandoned). */
const SCRATCH_PATTERN = /^artstore_(cycle|new|check|rehearse)_[0-9a-f]{8}$/

/**
 * The session that holds a run's mark. Advisory locks are per database, so every run takes its marks
 * in the same one: the server's `postgres` database, else the URL's own.
 */
async function guardSession(serverUrl: string): Promise<pg.Client> {
  for (const database of ['postgres', new URL(serverUrl).pathname.slice(1)]) {
    const client = quietClient({ connectionString: databaseUrl(serverUrl, decodeURIComponent(database)), connectionTimeoutMillis: 5000 })
    try {
      await client.connect()
      return client
    } catch (e) {
      await client.end().catch(() => undefined)
      if (database !== 'postgres') throw e
    }
  }
  throw new Error('unreachable')
}

/** The role may not create databases on the scratch server. */
export class ScratchPrivilegeError extends EnvironmentError {
  constructor(serverUrl: string, reason: string) {
    const u = new URL(serverUrl)
    super(
      `cannot create a scratch database on ${u.hostname}:${u.port || 5432} as ${decodeURIComponent(u.username) || 'the default user'} (${reason}): grant that role CREATEDB, or set ${SCRATCH_URL_VARIABLE} to a server and role that may create databases (see README "Scratch databases")`,
    )
  }
}

/** A scratch database of this run: its URL, and `release`, which drops it and lets go of its mark. */
export interface ScratchDatabase {
  name: string
  url: string
  release(): Promise<void>
}

/**
 * Creates a scratch database of a name no other run uses, marked as in use for as long as this run
 * lives (a session of its own on the server's database holds an advisory lock named after it). Before
 * that, drops the scratch databases of runs that died without dropping theirs (killed: no session holds
 * their mark). Needs the CREATEDB privilege. Until it is released, an interrupt (Ctrl-C, TERM) drops it
 * before the process exits (src/process/cleanup.ts); only a run killed outright leaves it, to the next.
 */
export async function claimScratchDatabase(serverUrl: string, label: string): Promise<ScratchDatabase> {
  const name = uniqueDatabaseName(label)
  const guard = await guardSession(serverUrl)
  // Once released (by the command or by an interrupt), the claim issues nothing more: a CREATE queued
  // behind the interrupt's DROP would otherwise leave the database after all.
  let released: Promise<void> | undefined
  const q = (sql: string, params?: unknown[]) => {
    if (released) throw new Error(`scratch database ${name} was released while it was being created`)
    return guard.query<Record<string, unknown>>(sql, params)
  }
  const release = () =>
    (released ??= (async () => {
      forget()
      try {
        await guard.query(`drop database if exists ${quoteIdent(name)} with (force)`)
      } finally {
        await guard.end().catch(() => undefined)
      }
    })())
  const forget = onInterrupt(release)
  try {
    await q('select pg_advisory_lock($1, hashtext($2))', [SCRATCH_LOCK_CLASS, name])
    const { rows } = await q(`select datname from pg_database where datname like 'artstore\\_%'`)
    for (const datname of rows.map((r) => String(r.datname)).filter((d) => SCRATCH_PATTERN.test(d) && d !== name)) {
      const { rows: free } = await q('select pg_try_advisory_lock($1, hashtext($2)) as ok', [SCRATCH_LOCK_CLASS, datname])
      if (!free[0].ok) continue // a live run's
      await q(`drop database if exists ${quoteIdent(datname)} with (force)`).catch(() => undefined)
      await q('select pg_advisory_unlock($1, hashtext($2))', [SCRATCH_LOCK_CLASS, datname])
    }
    await q(`create database ${quoteIdent(name)}`)
  } catch (e) {
    await release().catch(() => undefined)
    if ((e as { code?: string }).code === '42501') throw new ScratchPrivilegeError(serverUrl, (e as Error).message)
    throw e
  }
  return { name, url: databaseUrl(serverUrl, name), release }
}

/**
 * Runs `fn` on a new scratch database (see claimScratchDatabase) on the server of `serverUrl`; the
 * database is dropped afterwards, whatever happens, and by the next run if this one is killed.
 */
export async function withTemporaryDatabase<T>(serverUrl: string, label: string, fn: (url: string) => Promise<T>): Promise<T> {
  const scratch = await claimScratchDatabase(serverUrl, label)
  try {
    return await fn(scratch.url)
  } finally {
    await scratch.release()
  }
}
