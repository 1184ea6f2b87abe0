/**
 * `cache check`: a read-only comparison of a file-metadata cache with its attr.json files, from any
 * source (a folder, a bucket folder, several roots). It finds rows without a file, files without a
 * row, rows whose mapped columns differ from their file (the services' own check compares ids only),
 * and expired rows where the table has `cache_updated_at` and `cache_ttl_hours`.
 *
 * The files are read and mapped as a rebuild maps them (stage.ts) into a temporary table, compared in
 * SQL, and the transaction is rolled back: the cache is never written.
 */
import { from as copyFrom } from 'pg-copy-streams'
import type pg from 'pg'
import { describeTarget, withCheckedTargets } from '../context.ts'
import { withTransaction } from '../db/lock.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { OptionForOtherModuleError } from '../errors.ts'
import { getModule } from '../modules.ts'
import { DEFAULT_PREFIX } from '../prefix/prefix.ts'
import { CopyWriter } from './copy.ts'
import { CacheTableMissingError, ModuleWithoutCacheError, StorageElementIdMissingError } from './errors.ts'
import { checkRoots, withSource } from './rebuild.ts'
import { QUERY_TABLE, queryStage } from './rebuild-query.ts'
import { storageStage, storageTables } from './rebuild-storage.ts'
import type { AttrSource, SupersededFile } from './source.ts'
import { forEachStageLine, type Progress, type SkippedFile, type StageResult, type StageSpec } from './stage.ts'

export interface CacheCheckOptions {
  /** storage-element or query. */
  module: string
  /** As for cache rebuild: a folder, `s3://<bucket>/<app folder>`, or several. Required. */
  root?: string | readonly string[]
  /** Storage element: the instance's table prefix (default as for rebuild). */
  prefix?: string
  /** Query: the storage element whose rows are compared with these files (required). */
  storageElementId?: string
  env?: Record<string, string | undefined>
  /** s3:// roots: GETs in flight at once. */
  readConcurrency?: number
  onProgress?: (p: Progress) => void
}

export interface CacheCheckResult {
  module: 'storage-element' | 'query'
  /** consistent: every kind below is empty and no file was skipped. */
  status: 'consistent' | 'inconsistent'
  database: string
  pgSchema: string
  table: string
  root: string
  storageElementId?: string
  files: { found: number; good: number; skipped: number }
  /** Rows of this cache (for the query module: of this storage element). */
  rows: number
  /** Rows no attr.json stands for (neither by name nor by file_id): what --prune would delete. */
  rowsWithoutFile: { key: string; storageFilename: string }[]
  /** Good files whose file_id has no row. */
  filesWithoutRow: { path: string; key: string }[]
  /** Rows whose mapped columns differ from their file, and which columns. */
  differing: { path: string; key: string; columns: string[] }[]
  /** Rows past cache_updated_at + cache_ttl_hours; `ttl` false when the table has no such columns. */
  ttl: boolean
  expired: { key: string; expiredAt: string }[]
  /** Files that could not be compared (bad attr.json), with their reason. */
  skipped: SkippedFile[]
  superseded?: SupersededFile[]
  gone?: number
  durationMs: number
}

const CHECK = 'artstore_cache_check'

/** What the comparison needs to know about one cache table. */
interface Compared {
  table: string
  key: string
  /** Rows of this check, on alias `t`. */
  own: string
  /** [table column, staged expression on alias `s`, how the two are compared ('=' for is not distinct)]. */
  columns: readonly (readonly [column: string, staged: string, differs?: string])[]
}

/**
 * updated_at may differ by a little: on an edit the services commit the row, then rewrite the file,
 * each with its own now() (legacy-schema.md §7.2). A second apart or more is a real difference.
 */
const UPDATED_AT_SLACK = `interval '1 second'`

function comparedStorage(files: string): Compared {
  const columns = storageStage.columns.map(([c]) => {
    if (c === 'updated_at') return [c, `s.${c}`, `abs(extract(epoch from t.${c} - s.${c})) >= extract(epoch from ${UPDATED_AT_SLACK})`] as const
    // The services' row holds NULL where the file has {} (an upload without metadata, §7.2).
    if (c === 'metadata_json') return [c, `s.${c}`, `coalesce(t.${c}, '{}'::jsonb) is distinct from s.${c}`] as const
    return [c, `s.${c}`] as const
  })
  return { table: quoteIdent(files), key: 'file_id', own: 'true', columns: columns.filter(([c]) => c !== 'file_id') }
}

function comparedQuery(c: pg.ClientBase, element: string): Compared {
  const columns = queryStage.columns.map(([col]) => {
    if (col === 'updated_at') return [col, `s.${col}`, `abs(extract(epoch from t.${col} - s.${col})) >= extract(epoch from ${UPDATED_AT_SLACK})`] as const
    if (col === 'tags') return [col, `s.${col}`, `t.tags::text[] is distinct from s.tags`] as const
    return [col, `s.${col}`] as const
  })
  return { table: QUERY_TABLE, key: 'id', own: `t.storage_element_id = ${c.escapeLiteral(element)}`, columns: columns.filter(([col]) => col !== 'id') }
}

/** The files, mapped as a rebuild maps them, into a temporary table (one COPY). */
async function stageFiles(c: pg.ClientBase, source: AttrSource, spec: StageSpec, onProgress?: (p: Progress) => void): Promise<StageResult> {
  const cols = spec.columns.map(([n, ty]) => `${n} ${ty}`).join(', ')
  await c.query(`create temp table ${CHECK} (path text not null, name text not null, claim uuid, good boolean not null, ${cols}) on commit drop`)
  const result: StageResult = { found: 0, good: 0, skipped: [], trimmed: [], folderErrors: 0 }
  const writer = new CopyWriter(c.query(copyFrom(`copy ${CHECK} (path, name, claim, good, ${spec.columns.map(([n]) => n).join(', ')}) from stdin`)))
  try {
    await forEachStageLine(source, spec, result, onProgress, (line) => writer.push(line))
  } finally {
    await writer.end()
  }
  await c.query(`analyze ${CHECK}`)
  result.good = Number((await c.query(`select count(*) as n from ${CHECK} where good`)).rows[0].n)
  return result
}

/** Whether the table has both TTL columns (the services' later schema, §9.2): read from the catalog. */
async function hasTtl(c: pg.ClientBase, table: string): Promise<boolean> {
  const { rows } = await c.query(
    `select count(*)::int as n from pg_attribute where attrelid = to_regclass($1) and attname in ('cache_updated_at', 'cache_ttl_hours') and not attisdropped`,
    [table],
  )
  return rows[0].n === 2
}

async function compare(
  c: pg.ClientBase,
  t: Compared,
): Promise<Omit<CacheCheckResult, 'module' | 'status' | 'database' | 'pgSchema' | 'table' | 'root' | 'files' | 'skipped' | 'durationMs'>> {
  const own = t.own
  const rows = Number((await c.query(`select count(*) as n from ${t.table} t where ${own}`)).rows[0].n)
  const without = await c.query<{ key: string; name: string }>(
    `select t.${t.key}::text as key, t.storage_filename as name from ${t.table} t where ${own}
       and not exists (select 1 from ${CHECK} s where s.claim::text = t.${t.key}::text)
       and not exists (select 1 from ${CHECK} s where s.name = t.storage_filename) order by 1`,
  )
  const orphans = await c.query<{ path: string; key: string }>(
    `select s.path, s.claim::text as key from ${CHECK} s where s.good and not exists (select 1 from ${t.table} t where ${own} and t.${t.key}::text = s.claim::text) order by 1`,
  )
  const checks = t.columns.map(([col, staged, differs]) => `case when ${differs ?? `t.${col} is distinct from ${staged}`} then '${col}' end`)
  const differing = await c.query<{ path: string; key: string; columns: string[] }>(
    `select path, key, columns from (
       select s.path, t.${t.key}::text as key, array_remove(array[${checks.join(', ')}], null) as columns
         from ${CHECK} s join ${t.table} t on t.${t.key}::text = s.claim::text and ${own} where s.good) d
      where cardinality(columns) > 0 order by 1`,
  )
  const ttl = await hasTtl(c, t.table)
  const expired = ttl
    ? (
        await c.query<{ key: string; at: Date }>(
          `select t.${t.key}::text as key, t.cache_updated_at + t.cache_ttl_hours * interval '1 hour' as at from ${t.table} t
            where ${own} and t.cache_updated_at + t.cache_ttl_hours * interval '1 hour' < now() order by 1`,
        )
      ).rows.map((r) => ({ key: r.key, expiredAt: new Date(r.at).toISOString() }))
    : []
  return {
    rows,
    rowsWithoutFile: without.rows.map((r) => ({ key: r.key, storageFilename: r.name })),
    filesWithoutRow: orphans.rows,
    differing: differing.rows,
    ttl,
    expired,
  }
}

async function requireTable(t: ModuleTarget, c: pg.ClientBase, name: string, deploy: string): Promise<void> {
  const { rows } = await c.query('select to_regclass(quote_ident($1)) is not null as ok', [name])
  if (!rows[0].ok) throw new CacheTableMissingError(name, t.pgSchema, deploy)
}

/** Compares one module's cache with its files; changes nothing. See CacheCheckOptions. */
export async function checkCache(opts: CacheCheckOptions): Promise<CacheCheckResult> {
  const module = getModule(opts.module).name
  if (module === 'admin') throw new ModuleWithoutCacheError(module)
  const roots = checkRoots(opts.root)
  if (module === 'query' && opts.storageElementId === undefined) throw new StorageElementIdMissingError('--storage-element-id')
  if (module === 'storage-element' && opts.storageElementId !== undefined) throw new OptionForOtherModuleError('--storage-element-id', module, 'query')
  const started = performance.now()
  return withSource(roots, opts, (source) =>
    withCheckedTargets({ module, prefix: opts.prefix, env: opts.env }, ([target]) =>
      withClient(target, async (c) => {
        const where = describeTarget(target)
        let table: string
        let spec: StageSpec
        let compared: Compared
        if (module === 'query') {
          table = QUERY_TABLE
          spec = queryStage
          await requireTable(target, c, table, 'npx artstore-db deploy --module query')
          compared = comparedQuery(c, opts.storageElementId!)
        } else {
          const prefix = target.module.prefix ?? DEFAULT_PREFIX
          table = storageTables(prefix).files
          spec = storageStage
          await requireTable(target, c, table, `npx artstore-db deploy --module storage-element${prefix === DEFAULT_PREFIX ? '' : ` --prefix ${prefix}`}`)
          compared = comparedStorage(table)
        }
        const { staged, found } = await withTransaction(
          c,
          async () => {
            const s = await stageFiles(c, source, spec, opts.onProgress)
            return { staged: s, found: await compare(c, compared) }
          },
          { commit: false },
        )
        staged.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        const bad = found.rowsWithoutFile.length + found.filesWithoutRow.length + found.differing.length + found.expired.length + staged.skipped.length
        return {
          module,
          status: bad ? 'inconsistent' : 'consistent',
          database: where.database,
          pgSchema: where.pgSchema,
          table,
          root: source.label,
          ...(module === 'query' ? { storageElementId: opts.storageElementId } : {}),
          files: { found: staged.found, good: staged.good, skipped: staged.skipped.length },
          ...found,
          skipped: staged.skipped,
          ...(source.stats.superseded.length ? { superseded: source.stats.superseded } : {}),
          ...(source.stats.gone ? { gone: source.stats.gone } : {}),
          durationMs: Math.round(performance.now() - started),
        }
      }),
    ),
  )
}
