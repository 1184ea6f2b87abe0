import pg from 'pg'
import { afterAll, inject } from 'vitest'
import { quoteIdent } from '../../src/db/pg-config.ts'

/** The test server's URL for `database` (same user, host and port as the base URL). */
export function urlFor(database: string, schema?: string): string {
  const u = new URL(inject('baseUrl'))
  u.pathname = `/${database}`
  u.search = ''
  if (schema) u.searchParams.set('schema', schema)
  return u.toString()
}

/** Runs `fn` with a client on `database` (default: the server's `postgres` database). */
export async function withPg<T>(fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor(database) })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Drops and recreates `artstore_t_<name>`, a database of this test file's own; returns its URL. */
export async function freshDatabase(name: string): Promise<string> {
  const database = `artstore_t_${name}`
  await withPg(async (c) => {
    await c.query(`drop database if exists ${quoteIdent(database)} with (force)`)
    await c.query(`create database ${quoteIdent(database)}`)
  })
  return urlFor(database)
}

export async function dropDatabase(name: string): Promise<void> {
  await withPg((c) => c.query(`drop database if exists ${quoteIdent(`artstore_t_${name}`)} with (force)`))
}

/** Names of databases that match a LIKE pattern (e.g. stray shadow databases). */
/**
 * A `freshDatabase` for the test file that calls this (at its top level): every database it makes is
 * dropped once the file's tests are done.
 */
export function freshDatabasesOfThisFile(): (name: string) => Promise<string> {
  const created: string[] = []
  afterAll(async () => {
    for (const d of created) await dropDatabase(d)
  })
  return (name) => {
    created.push(name)
    return freshDatabase(name)
  }
}

export async function databasesLike(pattern: string): Promise<string[]> {
  return withPg(async (c) => (await c.query(`select datname from pg_database where datname like $1 order by 1`, [pattern])).rows.map((r) => r.datname))
}

const pools = new Map<string, pg.Pool>()

/**
 * Runs one query on a database and returns its rows. Connections are pooled per database and close
 * after a second of rest (a connection costs as much as dozens of small queries; tests that insert
 * row by row would otherwise open one per row).
 */
export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const connectionString = url.replace(/[?&]schema=[^&]*/, '')
  let pool = pools.get(connectionString)
  if (!pool) {
    pool = new pg.Pool({ connectionString, max: 2, idleTimeoutMillis: 1000, allowExitOnIdle: true })
    // A database dropped WITH (FORCE) ends its idle connections: the pool just lets them go.
    pool.on('error', () => undefined)
    pools.set(connectionString, pool)
  }
  return (await pool.query<T>(sql, params)).rows
}
