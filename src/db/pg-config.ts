import pg from 'pg'
import { HISTORY_PARAM } from '../config/urls.ts'

/**
 * pg settings for a Prisma URL: `?schema=` becomes the session's search_path, as the native engine
 * does. With HISTORY_PARAM, the history schema comes second on the path: tables are created in the
 * first, and `_prisma_migrations` (which only the history schema has) is found in the second.
 */
export function pgConfigFromUrl(url: string): { config: pg.PoolConfig; schema?: string; history?: string } {
  const u = new URL(url)
  const schema = u.searchParams.get('schema') ?? undefined
  const history = u.searchParams.get(HISTORY_PARAM) ?? undefined
  u.searchParams.delete('schema')
  u.searchParams.delete(HISTORY_PARAM)
  const config: pg.PoolConfig = { connectionString: u.toString(), max: 4 }
  if (history) config.options = `-c search_path=${quoteIdent(schema ?? 'public')},${quoteIdent(history)}`
  else if (schema) config.options = `-c search_path=${quoteIdent(schema)}`
  return { config, schema, history }
}

/** The database name of a URL, decoded. */
export const databaseOf = (url: string): string => decodeURIComponent(new URL(url).pathname.slice(1))

/** A PostgreSQL identifier, double-quoted. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`

/**
 * Runs `fn` with a client connected to `url` (its `?schema=` as search_path), always closing it.
 * `connectTimeoutMs` bounds the connection attempt; default: pg's (none).
 */
export function withPgClient<T>(url: string, fn: (c: pg.Client) => Promise<T>, connectTimeoutMs?: number): Promise<T> {
  return withClientOf({ ...pgConfigFromUrl(url).config, ...(connectTimeoutMs ? { connectionTimeoutMillis: connectTimeoutMs } : {}) }, fn)
}

/**
 * A client made from `config`, as every client of the project is made: a connection the server ends
 * (a terminated backend, a restart, the embedded server stopped by an interrupt) fails the query in
 * flight, and the client's own 'error' event, which would crash the process with a stack trace when
 * nobody listens, is heard and dropped.
 */
export function quietClient(config: pg.ClientConfig): pg.Client {
  const client = new pg.Client(config)
  client.on('error', () => undefined)
  return client
}

/** Runs `fn` with a client of its own made from `config`, always closing it. */
export async function withClientOf<T>(config: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = quietClient(config)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}
