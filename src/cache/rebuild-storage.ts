/**
 * Rebuilds a storage element's `<prefix>_files` from its attr.json files, updates `<prefix>_config`
 * and logs the run in `<prefix>_wal` (cache_rebuild: pending, then committed or failed).
 */
import path from 'node:path'
import type pg from 'pg'
import { withCacheLock, withTransaction } from '../db/lock.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { PruneEmptyRootError } from './errors.ts'
import { STORAGE_COLUMNS, storageRow } from './map.ts'
import type { CacheRebuildResult, RebuildRun, RowCounts } from './result.ts'
import { STAGE, skipWhere, stageFiles, type StageSpec } from './stage.ts'
import { streamRebuild, type StreamTarget } from './stream.ts'
import { planUpsert, pruneUnseen, type UpsertTarget } from './upsert.ts'

const TYPES: Record<(typeof STORAGE_COLUMNS)[number], string> = {
  file_id: 'uuid',
  original_filename: 'text',
  storage_filename: 'text',
  file_size: 'bigint',
  content_type: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
  created_by_id: 'text',
  created_by_username: 'text',
  created_by_fullname: 'text',
  description: 'text',
  version: 'text',
  storage_path: 'text',
  checksum: 'text',
  metadata_json: 'jsonb',
}

export const storageStage: StageSpec = { columns: STORAGE_COLUMNS.map((c) => [c, TYPES[c]] as const), map: storageRow }

/** The three tables of one storage-element instance. */
export const storageTables = (prefix: string) => ({ files: `${prefix}_files`, config: `${prefix}_config`, wal: `${prefix}_wal` })

type Part = Pick<CacheRebuildResult, 'files' | 'rows' | 'prune' | 'skipped' | 'trimmed' | 'config' | 'wal'>

/** The keys the cache held when the run started: what --prune may delete, and nothing written since. */
const BEFORE = 'artstore_cache_before'

async function rememberKeys(c: pg.ClientBase, files: string, prune: boolean): Promise<void> {
  if (!prune) return
  await c.query(`drop table if exists pg_temp.${BEFORE}`)
  await c.query(`create temp table ${BEFORE} as select file_id as id from ${quoteIdent(files)}`)
  await c.query(`alter table ${BEFORE} add primary key (id)`)
}

/** Values of the config row when a rebuild has to create it: read-only and not master, until an operator says otherwise. */
const NEW_CONFIG = { currentMode: 'ro', isMaster: false }

/** The run's `pending` row, committed at once (so that a run that dies leaves it behind, to be closed). */
async function logPending(c: pg.ClientBase, wal: string, data: object): Promise<string> {
  const { rows } = await c.query<{ id: string }>(
    `insert into ${quoteIdent(wal)} (transaction_id, operation_type, status, operation_data) values (gen_random_uuid(), 'cache_rebuild', 'pending', $1) returning transaction_id::text as id`,
    [JSON.stringify(data)],
  )
  return rows[0].id
}

/**
 * Closes the `pending` rows of runs that ended without finishing (killed, or their connection lost):
 * every live run holds the cache lock from before its pending row until after its last update, so
 * under that lock any other pending row is such a run's.
 */
async function closeInterrupted(c: pg.ClientBase, wal: string): Promise<void> {
  await c.query(
    `update ${quoteIdent(wal)} set status = 'failed', completed_at = clock_timestamp(),
            error_message = 'interrupted: the run ended without finishing (killed, or its connection was lost); its changes were rolled back'
      where operation_type = 'cache_rebuild' and status = 'pending'`,
  )
}

async function logFailed(c: pg.ClientBase, wal: string, id: string, error: unknown, started: number): Promise<void> {
  await c.query(
    `update ${quoteIdent(wal)} set status = 'failed', error_message = $2, completed_at = clock_timestamp(), duration_ms = $3 where transaction_id = $1`,
    [id, String((error as Error)?.message ?? error), Math.round(performance.now() - started)],
  )
}

async function updateConfig(c: pg.ClientBase, files: string, config: string): Promise<NonNullable<Part['config']>> {
  const { rows } = await c.query(
    `insert into ${quoteIdent(config)} as t (id, current_mode, is_master, total_files, total_size_bytes, last_cache_rebuild)
       select 1, $1, $2, count(*)::int, coalesce(sum(file_size), 0), clock_timestamp() from ${quoteIdent(files)}
     on conflict (id) do update set total_files = excluded.total_files, total_size_bytes = excluded.total_size_bytes,
       last_cache_rebuild = excluded.last_cache_rebuild, updated_at = now()
     returning total_files, total_size_bytes::text, last_cache_rebuild, (xmax = 0) as created`,
    [NEW_CONFIG.currentMode, NEW_CONFIG.isMaster],
  )
  const r = rows[0]
  return { totalFiles: r.total_files, totalSizeBytes: r.total_size_bytes, lastCacheRebuild: new Date(r.last_cache_rebuild).toISOString(), created: r.created }
}

/** Skips staged files whose storage_filename is cached under another file_id (the unique index would refuse them). */
const skipConflicts = (c: pg.ClientBase, files: string, part: Awaited<ReturnType<typeof stageFiles>>) =>
  skipWhere(
    c,
    part,
    'conflict',
    `update ${STAGE} s set good = false from ${quoteIdent(files)} f
      where s.good and f.storage_filename = s.storage_filename and f.file_id <> s.file_id
      returning s.path, 'storage_filename is already cached for another file_id (' || f.file_id || ')' as reason`,
  )

/**
 * The same conflicts, batch by batch while the batches are written: judged against the cache as it
 * was before the run, i.e. also against the old version of each row an earlier batch changed.
 */
const batchConflicts = (files: string) => (batch: string, undo: string) => {
  // One lookup per staged row (lateral … limit 1): a join would read the whole table for every batch.
  const hit = (table: string) =>
    `select s.ctid as at, f.file_id from ${batch} s cross join lateral (select f.file_id from ${table} f where f.storage_filename = s.storage_filename and f.file_id <> s.file_id limit 1) f where s.good`
  return `with hit as (${hit(quoteIdent(files))} union all ${hit(undo)})
   update ${batch} s set good = false, conflict = true from hit where s.ctid = hit.at
   returning s.path, 'storage_filename is already cached for another file_id (' || hit.file_id || ')' as reason`
}

/**
 * Under the cache lock of the instance's files table, in one transaction: stages and upserts the files
 * batch by batch (the conflicts skipped on the way), prunes, and updates the config and the log (whose
 * `pending` rows of interrupted runs it closes first). A dry run stages everything first and only counts.
 */
export async function rebuildStorage(c: pg.ClientBase, prefix: string, run: RebuildRun): Promise<Part> {
  const t = storageTables(prefix)
  const started = performance.now()
  const target: UpsertTarget = { table: quoteIdent(t.files), key: 'file_id', columns: STORAGE_COLUMNS.map((col) => [col, `s.${col}`] as const) }
  const prune = async (staged: Awaited<ReturnType<typeof stageFiles>>): Promise<[Part['prune'], number]> => {
    const pruneState = !run.prune ? 'off' : staged.folderErrors ? 'refused' : run.dryRun ? 'would' : 'done'
    if (pruneState !== 'would' && pruneState !== 'done') return [pruneState, 0]
    if (staged.found === 0) {
      const cached = Number((await c.query(`select count(*) as n from ${quoteIdent(t.files)}`)).rows[0].n)
      if (cached > 0) throw new PruneEmptyRootError(run.root, t.files, cached)
    }
    // Only rows the cache held when the run started, and only while their attr.json is still absent
    // (a file written into a folder already walked keeps its row), local or S3 layout.
    const filesOf = (r: Record<string, string>) =>
      [r.storage_path, `${r.storage_path}.attrs/`].map((dir) => path.join(run.root, dir, `${r.storage_filename}.attr.json`))
    return [pruneState, await pruneUnseen(c, { table: quoteIdent(t.files), name: 'storage_filename', id: 'file_id', dryRun: run.dryRun, before: run.prune ? BEFORE : undefined, filesOf })]
  }
  const report = (staged: Awaited<ReturnType<typeof stageFiles>>, rows: RowCounts, pruneState: Part['prune']): Part => ({
    files: { found: staged.found, good: staged.good, skipped: staged.skipped.length },
    rows,
    prune: pruneState,
    skipped: staged.skipped,
    trimmed: staged.trimmed,
  })
  // Before any temp table and outside any transaction: set later it fails, and would abort the transaction.
  await c.query(`set temp_buffers = '256MB'`).catch(() => undefined)
  return withCacheLock(c, t.files, async () => {
  if (!run.dryRun) await closeInterrupted(c, t.wal)
  const walId = run.dryRun ? undefined : await logPending(c, t.wal, { root: run.root, prefix, prune: run.prune })
  try {
    if (run.dryRun) {
      await rememberKeys(c, t.files, run.prune)
      const staged = await stageFiles(c, run.root, storageStage, run.onProgress)
      await skipConflicts(c, t.files, staged)
      const [pruneState, pruned] = await prune(staged)
      const counts = await planUpsert(c, target)
      return report(staged, { ...counts, unchanged: staged.good - counts.inserted - counts.updated, pruned }, pruneState)
    }
    return await withTransaction(c, async () => {
      await rememberKeys(c, t.files, run.prune)
      const streamed: StreamTarget = { ...target, keyType: 'uuid', undoIndex: ['storage_filename'], conflicts: batchConflicts(t.files) }
      const { staged, counts } = await streamRebuild(c, run.root, storageStage, streamed, run.onProgress)
      // Pruning after the upserts deletes the same rows as before them: every row written has a claim in the stage.
      const [pruneState, pruned] = await prune(staged)
      const rows: RowCounts = { ...counts, unchanged: staged.good - counts.inserted - counts.updated, pruned }
      const part = report(staged, rows, pruneState)
      part.config = await updateConfig(c, t.files, t.config)
      await c.query(
        `update ${quoteIdent(t.wal)} set status = 'committed', operation_data = operation_data || jsonb_build_object('result', $2::jsonb),
           completed_at = clock_timestamp(), duration_ms = $3 where transaction_id = $1`,
        [walId, JSON.stringify({ files: part.files, rows }), Math.round(performance.now() - started)],
      )
      part.wal = { transactionId: walId!, status: 'committed' }
      return part
    })
  } catch (e) {
    if (walId) await logFailed(c, t.wal, walId, e, started).catch(() => undefined)
    throw e
  }
  }, run.lockWaitSeconds)
}
