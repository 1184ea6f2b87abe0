/**
 * `cache rebuild`: the storage element's `<prefix>_files`, or the query module's
 * `file_metadata_cache`, rebuilt from the attr.json files under a storage element's folder.
 * Streams the files (memory stays flat), skips and reports bad ones, and never prints or exits.
 */
import { describeTarget, withCheckedTargets } from '../context.ts'
import type { LockWait } from '../db/lock-retry.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { isArtstoreError, OptionForOtherModuleError } from '../errors.ts'
import { getModule } from '../modules.ts'
import { DEFAULT_PREFIX } from '../prefix/prefix.ts'
import {
  CacheRebuildFailedError,
  CacheTableMissingError,
  ModuleWithoutCacheError,
  RootMissingError,
  StorageElementIdMissingError,
  StorageElementOptionError,
} from './errors.ts'
import { QUERY_TABLE, rebuildQuery } from './rebuild-query.ts'
import { rebuildStorage, storageTables } from './rebuild-storage.ts'
import type { CacheRebuildResult } from './result.ts'
import { chunkBounds, type ChunkBounds } from './chunks.ts'
import { sourceOf, type AttrSource } from './source.ts'
import type { Progress } from './stage.ts'

export type { CacheRebuildResult } from './result.ts'
export type { Progress } from './stage.ts'

export interface CacheRebuildOptions {
  /** storage-element or query (admin has no file cache). */
  module: string
  /**
   * Required: the storage element's base folder, holding YYYY/MM/DD/HH/, or its bucket folder,
   * `s3://<bucket>/<app folder>` (endpoint and credentials from STORAGE_S3_ENDPOINT_URL,
   * STORAGE_S3_ACCESS_KEY_ID, STORAGE_S3_SECRET_ACCESS_KEY, STORAGE_S3_REGION). Several roots are read
   * as one: a file id in two of them is cached from the one updated later.
   */
  root?: string | readonly string[]
  /** s3:// roots: GETs in flight at once; default DEFAULT_S3_CONCURRENCY (64). */
  readConcurrency?: number
  /** Storage element: the instance's table prefix; default STORAGE_ELEMENT_PREFIX, else storage_elem_01. */
  prefix?: string
  /** Query: the storage element whose rows are rebuilt (required, at most 50 characters). */
  storageElementId?: string
  /** Query: that element's URL, stored with each row (required, http or https). */
  storageElementUrl?: string
  /**
   * Also delete cache rows whose attr.json no longer exists. Never deletes the row of a file that
   * exists but could not be used; refused when a folder could not be listed, and an error when the
   * root holds no attr.json at all while the cache has rows (a wrong or unmounted --root).
   */
  prune?: boolean
  /** The same run, counting each batch where it would write it: what would change, with nothing changed. */
  dryRun?: boolean
  /** Where the database URLs are read from; default process.env. */
  env?: Record<string, string | undefined>
  /** Called as files are read and rows written (throttled); the CLI draws its progress bar from it. */
  onProgress?: (p: Progress) => void
  /** How long to wait for another rebuild of the same cache (it is named then); default 30 s. */
  lockWaitSeconds?: number
  /** Files per COPY into the run's stage (each shipped while the next is read); default 10 000. */
  batchFiles?: number
  /**
   * Rows per write transaction at most; default and maximum 1000 (MAX_CHUNK_ROWS). Each is written in
   * key order and gives way to the services (see chunks.ts). Lower it to see chunks apart.
   */
  chunkRows?: number
  /**
   * Told of each try of a chunk that ran out of its lock_timeout (a service holds one of its rows),
   * with the sessions it waited for; the CLI prints them on a terminal, as deploy does.
   */
  onLockWait?: (w: LockWait) => void
}

/** The roots as given: at least one, none empty. */
export function checkRoots(root: string | readonly string[] | undefined): string[] {
  const roots = root === undefined ? [] : typeof root === 'string' ? [root] : [...root]
  if (!roots.length || roots.some((r) => r === '')) throw new RootMissingError()
  return roots
}

/**
 * Opens the source of `roots` (a root that cannot be read is a named error, before anything is
 * changed), runs `fn` with it, and closes it.
 */
export async function withSource<T>(
  roots: string[],
  opts: { env?: Record<string, string | undefined>; readConcurrency?: number },
  fn: (s: AttrSource) => Promise<T>,
): Promise<T> {
  const source = await sourceOf(roots, opts.env ?? process.env, opts.readConcurrency)
  try {
    await source.open()
    return await fn(source)
  } finally {
    await source.close()
  }
}

function checkElement(opts: CacheRebuildOptions): { id: string; url: string } {
  if (opts.storageElementId === undefined) throw new StorageElementIdMissingError('--storage-element-id')
  if (opts.storageElementUrl === undefined) throw new StorageElementIdMissingError('--storage-element-url')
  const id = opts.storageElementId
  if (!/^\S(.{0,48}\S)?$/.test(id))
    throw new StorageElementOptionError(
      `--storage-element-id "${id}"`,
      'must be 1 to 50 characters without surrounding spaces: e.g. --storage-element-id se-01',
    )
  let u: URL | undefined
  try {
    u = new URL(opts.storageElementUrl)
  } catch {
    u = undefined
  }
  if (!u || !/^https?:$/.test(u.protocol) || opts.storageElementUrl.length > 512) {
    throw new StorageElementOptionError(
      `--storage-element-url "${opts.storageElementUrl}"`,
      'is not an http(s) URL of at most 512 characters: e.g. --storage-element-url http://se-01:8010',
    )
  }
  return { id, url: opts.storageElementUrl }
}

async function requireTables(t: ModuleTarget, c: import('pg').ClientBase, tables: string[], deploy: string): Promise<void> {
  for (const name of tables) {
    const { rows } = await c.query('select to_regclass(quote_ident($1)) is not null as ok', [name])
    if (!rows[0].ok) throw new CacheTableMissingError(name, t.pgSchema, deploy)
  }
}

/** Turns a database failure in the middle of a rebuild into one line, with the rows written before it; named errors pass through. */
function failed(table: string, e: unknown, written: number): unknown {
  if (isArtstoreError(e)) return e
  const code = (e as { code?: string }).code
  return new CacheRebuildFailedError(table, `${code ? `${code}: ` : ''}${(e as Error)?.message ?? e}`, written)
}

/**
 * Runs `fn` with the run's chunk bounds and, unless it is a dry run (which writes nothing), a second
 * connection that watches whom the writer's chunks wait for: a chunk that runs out of its retry time
 * names those sessions, and each timed-out try goes to `onLockWait`.
 */
async function watched<R extends { dryRun: boolean; bounds: ChunkBounds }, T>(
  t: ModuleTarget,
  c: import('pg').ClientBase,
  run: R,
  onLockWait: ((w: LockWait) => void) | undefined,
  fn: (run: R) => Promise<T>,
): Promise<T> {
  if (run.dryRun) return fn(run)
  const { rows } = await c.query<{ pid: number }>('select pg_backend_pid() as pid')
  return withClient(t, (watcher) => fn({ ...run, bounds: { ...run.bounds, watch: { pid: rows[0].pid, watcher }, ...(onLockWait ? { onLockWait } : {}) } }))
}

/** Rebuilds one module's file-metadata cache; see CacheRebuildOptions. */
export async function rebuildCache(opts: CacheRebuildOptions): Promise<CacheRebuildResult> {
  const module = getModule(opts.module).name
  if (module === 'admin') throw new ModuleWithoutCacheError(module)
  const roots = checkRoots(opts.root)
  const element = module === 'query' ? checkElement(opts) : undefined
  if (module === 'storage-element') {
    for (const [flag, v] of [
      ['--storage-element-id', opts.storageElementId],
      ['--storage-element-url', opts.storageElementUrl],
    ] as const) {
      if (v !== undefined) throw new OptionForOtherModuleError(flag, module, 'query')
    }
  }
  const started = performance.now()
  return withSource(roots, opts, (source) => rebuildFrom(source, module, element, opts, started))
}

async function rebuildFrom(
  source: AttrSource,
  module: 'storage-element' | 'query',
  element: { id: string; url: string } | undefined,
  opts: CacheRebuildOptions,
  started: number,
): Promise<CacheRebuildResult> {
  const root = source.label
  let written = 0
  const common = {
    root,
    source,
    dryRun: !!opts.dryRun,
    prune: !!opts.prune,
    onProgress: opts.onProgress,
    lockWaitSeconds: opts.lockWaitSeconds,
    batchFiles: opts.batchFiles,
    written: (rows: number) => (written = rows),
  }
  return withCheckedTargets({ module, prefix: opts.prefix, env: opts.env }, ([t]) =>
    withClient(t, async (c) => {
      const run = { ...common, bounds: await chunkBounds(c, opts.env ?? process.env, opts.chunkRows) }
      const where = describeTarget(t)
      const head = { module, status: run.dryRun ? 'would-rebuild' : 'rebuilt', database: where.database, pgSchema: where.pgSchema, root } as const
      let part
      let table: string
      if (element) {
        table = QUERY_TABLE
        await requireTables(t, c, [QUERY_TABLE], 'npx artstore-db deploy --module query')
        part = await watched(t, c, run, opts.onLockWait, (r) => rebuildQuery(c, element, r)).catch((e) => Promise.reject(failed(table, e, written)))
      } else {
        const prefix = t.module.prefix ?? DEFAULT_PREFIX
        const tables = storageTables(prefix)
        table = tables.files
        const deploy = `npx artstore-db deploy --module storage-element${prefix === DEFAULT_PREFIX ? '' : ` --prefix ${prefix}`}`
        await requireTables(t, c, [tables.files, tables.config, tables.wal], deploy)
        part = await watched(t, c, run, opts.onLockWait, (r) => rebuildStorage(c, prefix, r)).catch((e) => Promise.reject(failed(table, e, written)))
      }
      part.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      source.stats.superseded.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      part.trimmed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      opts.onProgress?.({ phase: 'done', files: part.files.found, skipped: part.files.skipped })
      const seen = {
        ...(source.stats.superseded.length ? { superseded: source.stats.superseded } : {}),
        ...(source.stats.gone ? { gone: source.stats.gone } : {}),
      }
      return { ...head, table, ...(element ? { storageElementId: element.id } : {}), ...part, ...seen, durationMs: Math.round(performance.now() - started) }
    }),
  )
}
