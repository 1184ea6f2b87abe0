/**
 * Rebuilds the query module's `file_metadata_cache` rows of one storage element from that element's
 * attr.json files. Rows of every other storage element are never touched: not updated, not pruned.
 */
import type pg from 'pg'
import { withCacheLock, withTransaction } from '../db/lock.ts'
import { PruneEmptyRootError } from './errors.ts'
import { QUERY_COLUMNS, queryRow } from './map.ts'
import type { CacheRebuildResult, RebuildRun, RowCounts } from './result.ts'
import { STAGE, skipWhere, stageFiles, type StageResult, type StageSpec } from './stage.ts'
import { planUpsert, pruneUnseen, upsertStaged, type UpsertTarget } from './upsert.ts'

export const QUERY_TABLE = 'file_metadata_cache'

const TYPES: Record<(typeof QUERY_COLUMNS)[number], string> = {
  id: 'text',
  filename: 'text',
  storage_filename: 'text',
  file_size: 'bigint',
  mime_type: 'text',
  sha256_hash: 'text',
  username: 'text',
  tags: 'text[]',
  description: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
}

export const queryStage: StageSpec = { columns: QUERY_COLUMNS.map((c) => [c, TYPES[c]] as const), map: queryRow }

type Part = Pick<CacheRebuildResult, 'files' | 'rows' | 'prune' | 'skipped' | 'trimmed'>

/**
 * Staged rows the table would refuse or that belong to someone else: an id cached for another
 * storage element, and a sha256 (unique in file_metadata_cache) held twice in the stage or by
 * another cached file.
 */
async function skipConflicts(c: pg.ClientBase, staged: StageResult, element: string): Promise<void> {
  await skipWhere(
    c,
    staged,
    'conflict',
    `update ${STAGE} s set good = false from ${QUERY_TABLE} t
      where s.good and t.id = s.id and t.storage_element_id <> ${element}
      returning s.path, 'file_id is cached for another storage element (' || t.storage_element_id || '), whose rows this rebuild never touches' as reason`,
  )
  await skipWhere(
    c,
    staged,
    'conflict',
    `with dup as (select sha256_hash, array_agg(path order by path) as paths from ${STAGE} where good group by sha256_hash having count(*) > 1)
     update ${STAGE} s set good = false from dup where s.good and s.sha256_hash = dup.sha256_hash
     returning s.path, 'checksum ' || s.sha256_hash || ' is shared with ' || array_to_string(array_remove(dup.paths, s.path), ', ') || ' (sha256_hash is unique in ${QUERY_TABLE}): neither is cached' as reason`,
  )
  await skipWhere(
    c,
    staged,
    'conflict',
    `update ${STAGE} s set good = false from ${QUERY_TABLE} t
      where s.good and t.sha256_hash = s.sha256_hash and t.id <> s.id
      returning s.path, 'checksum is already cached for file ' || t.id || ' (storage element ' || t.storage_element_id || '; sha256_hash is unique in ${QUERY_TABLE})' as reason`,
  )
}

/** Stages, then (under the cache lock, in one transaction) skips conflicts, prunes and upserts; a dry run stops before writing. */
export async function rebuildQuery(c: pg.ClientBase, element: { id: string; url: string }, run: RebuildRun): Promise<Part> {
  const id = c.escapeLiteral(element.id)
  const url = c.escapeLiteral(element.url)
  const target: UpsertTarget = {
    table: QUERY_TABLE,
    key: 'id',
    columns: [...QUERY_COLUMNS.map((col) => [col, col === 'tags' ? 's.tags::varchar(50)[]' : `s.${col}`] as const), ['storage_element_id', id], ['storage_element_url', url]],
    touch: ['cache_updated_at = now()'],
    guard: `t.storage_element_id = ${id}`,
  }
  const staged = await stageFiles(c, run.root, queryStage, run.onProgress)
  const base = { phase: 'write' as const, files: staged.found, skipped: staged.skipped.length }
  const write = async (): Promise<Part> => {
    await skipConflicts(c, staged, id)
    const prune = !run.prune ? 'off' : staged.folderErrors ? 'refused' : run.dryRun ? 'would' : 'done'
    let pruned = 0
    if (prune === 'would' || prune === 'done') {
      const where = `t.storage_element_id = ${id}`
      if (staged.found === 0) {
        const cached = Number((await c.query(`select count(*) as n from ${QUERY_TABLE} t where ${where}`)).rows[0].n)
        if (cached > 0) throw new PruneEmptyRootError(run.root, `${QUERY_TABLE} (storage element ${element.id})`, cached)
      }
      pruned = await pruneUnseen(c, { table: QUERY_TABLE, where, name: 'storage_filename', id: 'id', dryRun: run.dryRun })
    }
    const counts = run.dryRun ? await planUpsert(c, target) : await upsertStaged(c, target, run.onProgress, base)
    const rows: RowCounts = { ...counts, unchanged: staged.good - counts.inserted - counts.updated, pruned }
    return { files: { found: staged.found, good: staged.good, skipped: staged.skipped.length }, rows, prune, skipped: staged.skipped, trimmed: staged.trimmed }
  }
  return run.dryRun ? write() : withCacheLock(c, QUERY_TABLE, () => withTransaction(c, write), run.lockWaitSeconds)
}
