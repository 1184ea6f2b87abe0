import { AsyncLocalStorage } from 'node:async_hooks'
import pg from 'pg'
import { pgConfigFromUrl, withClientOf } from './pg-config.ts'

/**
 * Connections kept for the length of one command: a connection to PostgreSQL costs about as much as
 * the work of a status read (a backend process is forked for it), and a cycle or a verify of three
 * modules would otherwise open dozens. Within a scope each database URL gets a small pool; every
 * client goes back to it with `DISCARD ALL`, so nothing of one step (temporary tables, session
 * settings, advisory locks, prepared statements) is seen by the next.
 */
const scope = new AsyncLocalStorage<Map<string, pg.Pool>>()

/** How long a connection attempt may take before it is reported as unreachable. */
export const CONNECT_TIMEOUT_MS = 5000

/**
 * How long one query of a command may go unanswered (ARTSTORE_QUERY_TIMEOUT, seconds; 0 = no bound;
 * default 1800): a frozen server or a cut network otherwise hangs a command for ever. Generous, since
 * a rebuild batch or an adoption's content hash of a large table is one query. The schema engine's
 * own connections (deploy's migrations) are not bounded: an index build may take longer.
 */
export function queryTimeoutMs(env: Record<string, string | undefined> = process.env): number | undefined {
  const s = Number(env.ARTSTORE_QUERY_TIMEOUT ?? 1800)
  return Number.isFinite(s) && s > 0 ? s * 1000 : undefined
}

/** How long a session of a command may sit idle inside a transaction before the server ends it (a frozen or killed command holds no locks for ever). */
const IDLE_IN_TRANSACTION = '10min'

/** The pg settings every command connection gets: bounded connect, query and idle-in-transaction time. */
export function commandConfig(url: string): pg.PoolConfig {
  const { config } = pgConfigFromUrl(url)
  const timeout = queryTimeoutMs()
  return {
    ...config,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    // What pg_stat_activity shows for the session (a URL's own application_name wins): a deploy waiting for the turn names its holder by it.
    fallback_application_name: 'artstore-db',
    ...(timeout ? { query_timeout: timeout } : {}),
    options: [config.options, `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION}`].filter(Boolean).join(' '),
  }
}

/** Runs `fn` in a connection scope (see above); the pools are closed when it ends. Nested scopes share the outer one. */
export async function withConnectionScope<T>(fn: () => Promise<T>): Promise<T> {
  if (scope.getStore()) return fn()
  const pools = new Map<string, pg.Pool>()
  try {
    return await scope.run(pools, fn)
  } finally {
    await Promise.allSettled([...pools.values()].map((p) => p.end()))
  }
}

function poolFor(pools: Map<string, pg.Pool>, url: string): pg.Pool {
  let pool = pools.get(url)
  if (!pool) {
    pool = new pg.Pool({ ...commandConfig(url), max: 4 })
    // An idle connection the server drops (a database dropped WITH (FORCE), a restart) is simply
    // discarded by the pool: it must not crash the command.
    pool.on('error', () => undefined)
    pools.set(url, pool)
  }
  return pool
}

/**
 * Runs `fn` with a client connected to `url` (its `?schema=` as search_path): one of the scope's
 * pooled connections inside a scope, else a connection of its own, closed afterwards.
 */
export async function withConnection<T>(url: string, fn: (c: pg.ClientBase) => Promise<T>): Promise<T> {
  const pools = scope.getStore()
  if (!pools) return withClientOf(commandConfig(url), fn)
  const client = await poolFor(pools, url).connect()
  // While it is checked out, a pooled client's 'error' (its connection ended by the server) has no
  // listener of the pool's: the query in flight fails, and the process must not crash besides.
  const ignore = () => undefined
  client.on('error', ignore)
  try {
    return await fn(client)
  } finally {
    client.off('error', ignore)
    await reset(client)
  }
}

/** Puts a client back clean, or destroys it when it cannot be (a broken connection, an open transaction). */
async function reset(client: pg.PoolClient): Promise<void> {
  try {
    await client.query('discard all')
    client.release()
  } catch (e) {
    client.release(e as Error)
  }
}
