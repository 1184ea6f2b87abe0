import { createHash } from 'node:crypto'
import type pg from 'pg'
import { runBatched } from '../backfill/run.ts'
import { pgConfigFromUrl, quietClient } from '../db/pg-config.ts'
import { withLockRetries, type LockRetrySettings } from '../db/lock-retry.ts'
import { readMigrationHeader, runsOutsideTransaction } from '../migrate/header.ts'
import { onInterrupt } from '../process/cleanup.ts'
import { withoutTransactionControl } from '../rollback/script.ts'

/**
 * How a migration's script runs, the one runner of deploy (through the engine's executeScript) and
 * rehearse:
 *
 * - declared outside a transaction (`-- artstore: no-transaction`, or a lone CONCURRENTLY index
 *   statement): as one query, in autocommit;
 * - declared batched (`-- artstore: batched …`): in batches, one transaction each (src/backfill/run.ts);
 * - any other: in one transaction, with lock timeouts and retries, and with its history row (when the
 *   engine made one) marked finished in that same transaction.
 */

/** The script with its top-level BEGIN/COMMIT made comments (they would end the migration's own transaction); as it is if that is refused. */
export function inOneTransaction(script: string): string {
  try {
    return withoutTransactionControl(script, '', '').sql
  } catch {
    return script // a ROLLBACK or a prepared transaction: run as written, and let PostgreSQL say what it does
  }
}

/** The engine's unfinished history row of a running migration: its table (as the search_path finds it), schema, id and name. */
export interface HistoryRow {
  table: string
  schema: string
  id: string
  migration: string
}

export interface ScriptRun {
  client: pg.ClientBase
  /** The client's backend pid and a second connection to watch whom a try waits for; without them, one try per transaction. */
  watch?: { pid: number; watcher: Pick<pg.Pool, 'query'> }
  retry: LockRetrySettings
  version: number
  history?: HistoryRow
}

/** The connection's backend, server version, and the engine's unfinished history row of `script` (found by its checksum), if any. */
export async function scriptContext(c: pg.ClientBase, script: string): Promise<{ pid: number; version: number; history?: HistoryRow }> {
  const { rows: meta } = await c.query<{ pid: number; history: string | null; schema: string | null; version: number }>(
    `select pg_backend_pid() as pid, to_regclass('_prisma_migrations')::text as history,
            (select n.nspname from pg_class x join pg_namespace n on n.oid = x.relnamespace where x.oid = to_regclass('_prisma_migrations')) as schema,
            current_setting('server_version_num')::int as version`,
  )
  const { pid, history, schema, version } = meta[0]
  if (!history) return { pid, version }
  const checksum = createHash('sha256').update(script).digest('hex')
  const { rows } = await c.query<{ id: string; migration_name: string }>(
    `select id, migration_name from _prisma_migrations where checksum = $1 and finished_at is null and rolled_back_at is null and logs is null order by started_at desc limit 1`,
    [checksum],
  )
  return { pid, version, ...(rows[0] ? { history: { table: history, schema: schema ?? '', id: rows[0].id, migration: rows[0].migration_name } } : {}) }
}

/**
 * Runs a script that is not declared outside a transaction on `run.client`: batched, or in one
 * transaction per try. Each try sets a short lock_timeout; a try that runs out (55P03) is rolled back
 * whole and tried again after a pause, until the budget is spent; then its 55P03 is thrown (the engine
 * marks the row failed; deploy deletes that row: the migration is pending, see deploy.ts). On
 * PostgreSQL 14 and later, client_connection_check_interval is 1 s in the try: a backend whose client
 * died (SIGKILL, a cut connection) leaves the lock queue within about a second.
 */
export async function runScript(run: ScriptRun, script: string): Promise<void> {
  if (readMigrationHeader(script).batched !== undefined) {
    await runBatched({ ...run, script })
    return
  }
  const body = inOneTransaction(script)
  const c = run.client
  const attempt = async (timeout: number) => {
    try {
      await c.query('begin')
      await c.query(`set local lock_timeout = '${timeout}ms'`)
      if (run.version >= 140000) await c.query(`set local client_connection_check_interval = '1s'`)
      await c.query(body)
      if (run.history) await c.query(`update ${run.history.table} set finished_at = now() where id = $1`, [run.history.id])
      await c.query('commit')
    } catch (e) {
      await c.query('rollback').catch(() => undefined)
      throw e
    }
  }
  if (!run.watch) return attempt(run.retry.lockTimeoutMs)
  await withLockRetries({
    settings: run.retry,
    pid: run.watch.pid,
    watcher: run.watch.watcher,
    ...(run.history ? { migration: run.history.migration } : {}),
    attempt,
  })
}

/**
 * The engine's executeScript: a script declared outside a transaction runs as one query on the pool;
 * any other on one connection of the pool (see runScript).
 *
 * - The engine has inserted the migration's history row (unfinished) before the script, and marks it
 *   finished after. The row is found by the script's checksum among the unfinished ones, and its
 *   `finished_at` is set inside the script's (last) transaction: the script and the row's completion
 *   commit together. The engine's own update then only adds the step count (and sets finished_at
 *   again), so the row is the one `prisma migrate deploy` leaves.
 * - Interrupted (Ctrl-C, TERM), the command's clean-up ends the connection's backend from a fresh
 *   connection (pg_terminate_backend: its transaction is rolled back and it leaves the lock queue at
 *   once, even between two statements, where a cancel would not reach it) and deletes the unfinished
 *   history row the engine made for it: nothing of the running transaction is applied, and the
 *   migration is pending (a batched backfill keeps the progress of its committed batches).
 */
export async function runScriptOnPool(pool: pg.Pool, url: string, script: string, retry: LockRetrySettings): Promise<void> {
  if (runsOutsideTransaction(script)) {
    // One backend, no parallel workers: a CREATE INDEX CONCURRENTLY of a big table would otherwise
    // take max_parallel_maintenance_workers more (2 by default), every core of a small server, from
    // the services' statements for the whole build.
    const c = await pool.connect()
    let broken = false
    try {
      await c.query(`set max_parallel_maintenance_workers = 0`)
      await c.query(script)
      await c.query(`reset max_parallel_maintenance_workers`)
    } catch (e) {
      broken = await c
        .query('reset max_parallel_maintenance_workers')
        .then(() => false)
        .catch(() => true)
      throw e
    } finally {
      c.release(broken)
    }
    return
  }
  const client = await pool.connect()
  let broken = false
  try {
    const { pid, version, history } = await scriptContext(client, script)
    const forget = onInterrupt(() => stopTry(url, pid, history))
    try {
      await runScript({ client, watch: { pid, watcher: pool }, retry, version, ...(history ? { history } : {}) }, script)
    } catch (e) {
      // A connection whose rollback failed is not given back to the pool.
      broken = await client
        .query('select 1')
        .then(() => false)
        .catch(() => true)
      throw e
    } finally {
      forget()
    }
  } finally {
    client.release(broken)
  }
}

/** The interrupt clean-up of a try: its backend ended from a fresh connection, and the engine's unfinished history row deleted. */
async function stopTry(url: string, pid: number, row: HistoryRow | undefined): Promise<void> {
  const c = quietClient({ ...pgConfigFromUrl(url).config, connectionTimeoutMillis: 2_000 })
  await c.connect()
  try {
    await c.query('select pg_terminate_backend($1)', [pid])
    if (!row) return
    // The ended backend's row locks go with its rollback, a moment later: wait for them, briefly.
    await c.query(`set lock_timeout = '2s'`)
    await c.query(`delete from ${row.table} where id = $1 and finished_at is null and logs is null`, [row.id])
  } finally {
    await c.end()
  }
}

/**
 * A script on a connection of its own, as deploy runs it (see runScript), with no history row and one
 * try per transaction: rehearse's steps on its copy.
 */
export async function runScriptOn(c: pg.ClientBase, script: string, retry: LockRetrySettings): Promise<void> {
  if (runsOutsideTransaction(script)) {
    await c.query(script)
    return
  }
  const { version } = await scriptContext(c, script)
  await runScript({ client: c, retry, version }, script)
}
