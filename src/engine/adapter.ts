import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { ColumnTypeEnum, bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'
import { databaseOf, pgConfigFromUrl, quietClient, quoteIdent, withClientOf } from '../db/pg-config.ts'
import { onInterrupt } from '../process/cleanup.ts'
import { lockRetrySettings, type LockRetrySettings } from '../db/lock-retry.ts'
import { recordDatabaseError } from './database-error.ts'
import { runScriptOnPool } from './script.ts'

const PG_CHAR_OID = 18
const PG_TEXT_OID = 25

// The adapter's queryable objects (adapter and transactions) share these two methods.
interface Queryable {
  performIO(query: unknown): Promise<pg.QueryResult>
  queryRaw(query: unknown): Promise<{ columnTypes: unknown[]; rows: unknown[] }>
}

/**
 * Pitfall 1: adapter-pg cannot type the catalog's `"char"` columns (pg_constraint.contype, …), so any
 * table with a CHECK constraint breaks introspection. The value arrives as a string either way; we
 * let the adapter see it as text, then report it to the engine as Character (reporting Text makes the
 * engine panic). Keyed by the rows array, which queryRaw passes through, so concurrent queries are safe.
 */
function supportCatalogChar<T extends Queryable>(q: T): T {
  const charColumns = new WeakMap<object, number[]>()
  const performIO = q.performIO.bind(q)
  const queryRaw = q.queryRaw.bind(q)
  q.performIO = async (query) => {
    const result = await performIO(query).catch((e) => {
      recordDatabaseError((e as { cause?: { originalError?: unknown } })?.cause?.originalError ?? e)
      throw e
    })
    const found: number[] = []
    result.fields?.forEach((field, i) => {
      if (field.dataTypeID === PG_CHAR_OID) {
        field.dataTypeID = PG_TEXT_OID
        found.push(i)
      }
    })
    if (found.length && result.rows) charColumns.set(result.rows, found)
    return result
  }
  q.queryRaw = async (query) => {
    const result = await queryRaw(query)
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character
    return result
  }
  return q
}

/** The parts of adapter-pg's (unexported) adapter class that the bridge adjusts. */
interface PgAdapter extends Queryable {
  startTransaction(isolationLevel?: unknown): Promise<unknown>
  executeScript(script: string): Promise<void>
  underlyingDriver(): unknown
  onError(e: unknown): never
  dispose(): Promise<void>
}
type PrismaPgAdapter = Awaited<ReturnType<PrismaPg['connect']>>

/**
 * Pitfall 2: adapter-pg's executeScript splits on ';' (breaking `$$` bodies) and runs statements one by
 * one (leaving a failed migration half-applied). Here a script runs whole, as one simple-protocol query:
 *
 * - A migration that declares itself outside a transaction (`-- artstore: no-transaction`, or a lone
 *   CONCURRENTLY index statement, see runsOutsideTransaction) runs as that query alone, in autocommit:
 *   what it commits part-way stays committed. It gets no lock_timeout: CREATE INDEX CONCURRENTLY waits
 *   for older transactions to end, not for a lock queue the services stand in, and a timeout would only
 *   leave an INVALID index behind.
 * - A batched backfill (`-- artstore: batched …`) runs in batches, one transaction each, with its
 *   progress (see src/backfill/run.ts).
 * - Any other runs inside an explicit transaction (so a COMMIT in a DO block fails it with 2D000, and a
 *   top-level BEGIN/COMMIT is made a comment), with lock timeouts and retries (see src/db/lock-retry.ts),
 *   and with its history row marked finished in that same transaction (see ./script.ts).
 */
function harden(adapter: PgAdapter, url: string, retry: () => LockRetrySettings): PgAdapter {
  supportCatalogChar(adapter)
  const startTransaction = adapter.startTransaction.bind(adapter)
  adapter.startTransaction = async (isolationLevel) => supportCatalogChar((await startTransaction(isolationLevel)) as never)
  adapter.executeScript = async (script: string) => {
    const pool = adapter.underlyingDriver() as pg.Pool
    try {
      await runScriptOnPool(pool, url, script, retry())
    } catch (e) {
      recordDatabaseError(e)
      adapter.onError(e)
    }
  }
  return adapter
}

/** Temporary shadow databases still alive; dropped at shutdown if the engine did not dispose them. */
const liveShadowDatabases = new Map<string, () => Promise<void>>()

/** Drops every temporary shadow database this process created and has not dropped yet. */
export async function dropLeftoverShadowDatabases(): Promise<void> {
  await Promise.allSettled([...liveShadowDatabases.values()].map((drop) => drop()))
}

export class ShadowIsMainDatabaseError extends Error {
  constructor() {
    super('the shadow database URL points at the main database: give the shadow database a database of its own')
  }
}

class BridgeFactory extends PrismaPg {
  /** Adapters this factory connected and that have not been disposed yet (their pools are open). */
  readonly open = new Set<PgAdapter>()

  constructor(
    private readonly url: string,
    private readonly shadowUrl?: string,
    private readonly retry?: LockRetrySettings,
  ) {
    // The engine keeps its history in the schema the adapter names: the instance's history schema, if any.
    const { config, schema, history } = pgConfigFromUrl(url)
    super(config, history || schema ? { schema: history ?? schema } : undefined)
  }

  override async connect(): Promise<PrismaPgAdapter> {
    return this.track(harden((await super.connect()) as unknown as PgAdapter, this.url, () => this.retry ?? lockRetrySettings())) as unknown as PrismaPgAdapter
  }

  /** Disposes every adapter still open: the engine does not always dispose what it connected. */
  async disposeAll(): Promise<void> {
    await Promise.allSettled([...this.open].map((a) => a.dispose()))
  }

  private track(adapter: PgAdapter): PgAdapter {
    this.open.add(adapter)
    const dispose = adapter.dispose.bind(adapter)
    let disposed: Promise<void> | undefined
    adapter.dispose = () => {
      this.open.delete(adapter)
      return (disposed ??= dispose())
    }
    return adapter
  }

  /** Pitfalls 3 and 4: an explicit shadow URL is used as given; otherwise a temporary database. */
  override async connectToShadowDb() {
    return this.shadowUrl ? this.connectExplicitShadow(this.shadowUrl) : this.connectTemporaryShadow()
  }

  private async connectExplicitShadow(shadowUrl: string) {
    const main = new URL(this.url)
    const shadow = new URL(shadowUrl)
    if (main.host === shadow.host && databaseOf(this.url) === databaseOf(shadowUrl)) throw new ShadowIsMainDatabaseError()
    // Like the native engine, start from an empty shadow database.
    await withClientOf(pgConfigFromUrl(shadowUrl).config, async (client) => {
      const { rows } = await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname !~ '^pg_' and nspname <> 'information_schema'`)
      for (const { nspname } of rows) await client.query(`drop schema ${quoteIdent(nspname)} cascade`)
      await client.query('create schema public')
    })
    return this.track((await new BridgeFactory(shadowUrl).connect()) as unknown as PgAdapter) as unknown as PrismaPgAdapter
  }

  private async connectTemporaryShadow() {
    const name = `prisma_migrate_shadow_db_${randomUUID()}`
    const admin = quietClient(pgConfigFromUrl(this.url).config)
    await admin.connect()
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`)
    let dropped = false
    // An interrupted command (Ctrl-C, TERM) drops it before it exits, too.
    const drop = async () => {
      if (dropped) return
      dropped = true
      forget()
      liveShadowDatabases.delete(name)
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)
      } finally {
        await admin.end()
      }
    }
    liveShadowDatabases.set(name, drop)
    const forget = onInterrupt(drop)
    // Not `{ ...config, database }` as adapter-pg does: pg lets connectionString override `database`,
    // so that "shadow" database would silently be the main one.
    const shadowUrl = new URL(this.url)
    shadowUrl.pathname = `/${encodeURIComponent(name)}`
    const shadow = (await new BridgeFactory(shadowUrl.toString()).connect()) as unknown as PgAdapter
    const dispose = shadow.dispose.bind(shadow)
    shadow.dispose = async () => {
      try {
        await dispose()
      } finally {
        await drop()
      }
    }
    return this.track(shadow) as unknown as PrismaPgAdapter
  }
}

/** Placeholder for engine runs that have no datasource (pure diffs): pg connects lazily, so it is never dialled. */
const NO_DATABASE_URL = 'postgresql://offline@127.0.0.1:1/offline'

/**
 * The migration-aware adapter factory the Wasm schema engine drives, and `dispose`, which closes
 * every connection pool it opened (and drops its temporary shadow database).
 */
export function createAdapterFactory(url: string | undefined, shadowUrl?: string, retry?: LockRetrySettings) {
  const factory = new BridgeFactory(url ?? NO_DATABASE_URL, shadowUrl, retry)
  return { factory: bindMigrationAwareSqlAdapterFactory(factory), dispose: () => factory.disposeAll() }
}
