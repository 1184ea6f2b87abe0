/**
 * Rebuilds a storage element's `<prefix>_files` from its attr.json files, updates `<prefix>_config`
 * and logs the run in `<prefix>_wal` (cache_rebuild: pending, then committed or failed).
 */
import type pg from 'pg'
import { withCacheLock } from '../db/lock.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { STORAGE_COLUMNS, storageRow } from './map.ts'
import { withinBounds, type ChunkBounds } from './chunks.ts'
import { takenElsewhere, type CacheTable } from './pipeline.ts'
import type { RebuildRun } from './result.ts'
import { readTableShape } from './shape.ts'
import type { StageSpec } from './stage.ts'
import { writeCache, type RebuildPart } from './write.ts'

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

/** Values of the config row when a rebuild has to create it: read-only and not master, until an operator says otherwise. */
const NEW_CONFIG = { currentMode: 'ro', isMaster: false }

/**
 * cache_ttl_hours as the services set it: a row of an edit or rw element stays fresh 24 hours, of an
 * ro or ar element 168. A mode the services do not know gets the shorter one.
 */
export const cacheTtlHours = (mode: string): number => (['ro', 'ar'].includes(mode.trim().toLowerCase()) ? 168 : 24)

/** The element's mode: its config row's, else the mode the rebuild gives the row it creates. */
async function currentMode(c: pg.ClientBase, config: string): Promise<string> {
  const { rows } = await c.query<{ mode: string }>(`select current_mode as mode from ${quoteIdent(config)} order by id limit 1`)
  return rows[0]?.mode ?? NEW_CONFIG.currentMode
}

/**
 * The columns of `<prefix>_files` a rebuild fills beyond the file's fields, where the table has them
 * (later migrations add them): cache_ttl_hours from the element's mode, compared like a field (a mode
 * change updates the rows). cache_updated_at is stamped as each row is written (see runStamp).
 */
async function serviceColumns(c: pg.ClientBase, t: ReturnType<typeof storageTables>, columns: Set<string>): Promise<[string, string][]> {
  if (!columns.has('cache_ttl_hours')) return []
  return [['cache_ttl_hours', String(cacheTtlHours(await currentMode(c, t.config)))]]
}

/**
 * cache_updated_at = the run's time (when its log row was written) on every row the run found good
 * (new, changed or unchanged), in the chunk that writes or checks it: the services judge a row stale
 * past cache_updated_at + cache_ttl_hours, and this run has just checked it.
 */
async function runStamp(c: pg.ClientBase): Promise<CacheTable['stamp']> {
  const { rows } = await c.query<{ at: string }>(`select now()::text as at`)
  return { column: 'cache_updated_at', value: `${c.escapeLiteral(rows[0].at)}::timestamptz` }
}

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
            error_message = 'interrupted: the run ended without finishing (killed, or its connection was lost); the rows it had written stay as their files say, nothing was pruned'
      where operation_type = 'cache_rebuild' and status = 'pending'`,
  )
}

/** The end of a run's log row: completed_at is now, and duration_ms the time from the row's started_at to it. */
const ended = `completed_at = clock_timestamp(), duration_ms = round(extract(epoch from clock_timestamp() - started_at) * 1000)::int`

async function logFailed(c: pg.ClientBase, wal: string, id: string, error: unknown): Promise<void> {
  await c.query(`update ${quoteIdent(wal)} set status = 'failed', error_message = $2, ${ended} where transaction_id = $1`, [
    id,
    String((error as Error)?.message ?? error),
  ])
}

/**
 * The run's last transaction: the config row (totals counted just before, without a lock) and the
 * log row marked committed, together, within the chunks' bounds (the services write the config row too).
 */
async function finishRun(
  c: pg.ClientBase,
  t: ReturnType<typeof storageTables>,
  bounds: ChunkBounds,
  walId: string,
  result: object,
): Promise<NonNullable<RebuildPart['config']>> {
  const totals = (
    await c.query<{ n: number; size: string }>(`select count(*)::int as n, coalesce(sum(file_size), 0)::text as size from ${quoteIdent(t.files)}`)
  ).rows[0]
  const q = (v: string) => c.escapeLiteral(v)
  const results = await withinBounds(
    c,
    bounds,
    t.config,
    () => `insert into ${quoteIdent(t.config)} as t (id, current_mode, is_master, total_files, total_size_bytes, last_cache_rebuild)
       values (1, ${q(NEW_CONFIG.currentMode)}, ${NEW_CONFIG.isMaster}, ${totals.n}, ${q(totals.size)}::bigint, clock_timestamp())
     on conflict (id) do update set total_files = excluded.total_files, total_size_bytes = excluded.total_size_bytes,
       last_cache_rebuild = excluded.last_cache_rebuild, updated_at = now()
     returning total_files, total_size_bytes::text, last_cache_rebuild, (xmax = 0) as created;
     update ${quoteIdent(t.wal)} set status = 'committed', operation_data = operation_data || jsonb_build_object('result', ${q(JSON.stringify(result))}::jsonb), ${ended}
      where transaction_id = ${q(walId)}`,
  )
  const r = results[0].rows[0]
  return { totalFiles: r.total_files, totalSizeBytes: r.total_size_bytes, lastCacheRebuild: new Date(r.last_cache_rebuild).toISOString(), created: r.created }
}

/**
 * Under the cache lock of the instance's files table: closes the `pending` log rows of interrupted
 * runs, logs this one, and rebuilds the files table (writeCache), then writes the config row and marks
 * the log row committed in one last transaction. A dry run logs nothing and changes nothing.
 */
export async function rebuildStorage(c: pg.ClientBase, prefix: string, run: RebuildRun): Promise<RebuildPart> {
  const t = storageTables(prefix)
  const stillThere = (r: Record<string, string>) => run.source.has(r.storage_path, r.storage_filename)
  const write = async (finish?: (part: RebuildPart) => Promise<void>) => {
    // The table as it is: which written columns are unique, which columns of the services' it has.
    const shape = await readTableShape(c, t.files)
    const unique = STORAGE_COLUMNS.filter((col) => col !== 'file_id' && shape.unique.has(col))
    const target: CacheTable = {
      table: quoteIdent(t.files),
      name: t.files,
      key: 'file_id',
      keyType: 'uuid',
      columns: [...STORAGE_COLUMNS.map((col) => [col, `s.${col}`] as const), ...(await serviceColumns(c, t, shape.columns))],
      ...(shape.columns.has('cache_updated_at') ? { stamp: await runStamp(c) } : {}),
      unique,
      // A unique index would refuse a value cached under another file_id.
      conflicts: unique.map((column) =>
        takenElsewhere(quoteIdent(t.files), 'file_id', column, [], `'${column} is already cached for another file_id (' || hit.file_id || ')'`),
      ),
    }
    return writeCache(c, run, {
      spec: storageStage,
      target,
      prune: { table: t.files, name: 'storage_filename', id: 'file_id', keyType: 'uuid', stillThere },
      describe: t.files,
      finish,
      written: run.written,
    })
  }
  return withCacheLock(
    c,
    t.files,
    async () => {
      if (run.dryRun) return write()
      await closeInterrupted(c, t.wal)
      const walId = await logPending(c, t.wal, { root: run.root, prefix, prune: run.prune })
      const finish = async (part: RebuildPart) => {
        part.config = await finishRun(c, t, run.bounds, walId, { files: part.files, rows: part.rows })
        part.wal = { transactionId: walId, status: 'committed' }
      }
      try {
        return await write(finish)
      } catch (e) {
        await logFailed(c, t.wal, walId, e).catch(() => undefined)
        throw e
      }
    },
    run.lockWaitSeconds,
  )
}
