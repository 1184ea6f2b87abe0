import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { quoteIdent } from './pg-config.ts'

/** The URL of `database` on the same server as `serverUrl`. */
export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl)
  u.pathname = `/${database}`
  u.searchParams.delete('schema')
  return u.toString()
}

async function onServer(serverUrl: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl(serverUrl, new URL(serverUrl).pathname.slice(1)) })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

/** Creates a database of a name nobody else uses (cycle); returns its URL. */
export async function createDatabase(serverUrl: string, database: string): Promise<string> {
  await onServer(serverUrl, `create database ${quoteIdent(database)}`)
  return databaseUrl(serverUrl, database)
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

/**
 * Runs `fn` on a new database of a name no other run uses, on the server of `serverUrl`; the database
 * is dropped afterwards, whatever happens. Needs the CREATEDB privilege.
 */
export async function withTemporaryDatabase<T>(serverUrl: string, label: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = uniqueDatabaseName(label)
  const url = await createDatabase(serverUrl, name)
  try {
    return await fn(url)
  } finally {
    await dropDatabase(serverUrl, name)
  }
}
