/**
 * Rebuilds the query module's `file_metadata_cache` rows of one storage element from that element's
 * attr.json files. Rows of every other storage element are never touched: not updated, not pruned.
 */
import type pg from 'pg'
import { withCacheLock } from '../db/lock.ts'
import { QUERY_COLUMNS, queryRow } from './map.ts'
import { takenElsewhere, type CacheTable } from './pipeline.ts'
import type { RebuildRun } from './result.ts'
import { readTableShape } from './shape.ts'
import type { StageSpec } from './stage.ts'
import { writeCache, type RebuildPart } from './write.ts'

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

/**
 * Files the table would refuse or that belong to someone else, judged against the cache before the
 * run writes a row: an id cached for another storage element, and a value of a unique column
 * (sha256_hash while its index is unique) cached for another file. A value two files of the run share
 * keeps neither (pipeline.ts).
 */
const conflicts = (element: string, unique: readonly string[]): CacheTable['conflicts'] => [
  (stage) => `update ${stage} s set good = false, conflict = true from ${QUERY_TABLE} t
      where s.good and t.id = s.id and t.storage_element_id <> ${element}
      returning s.path, 'file_id is cached for another storage element (' || t.storage_element_id || '), whose rows this rebuild never touches' as reason`,
  ...unique.map((column) =>
    takenElsewhere(
      QUERY_TABLE,
      'id',
      column,
      ['storage_element_id'],
      `'${column === 'sha256_hash' ? 'checksum' : column} is already cached for file ' || hit.id || ' (storage element ' || hit.storage_element_id || '; ${column} is unique in ${QUERY_TABLE})'`,
    ),
  ),
]

/**
 * Under the cache lock of file_metadata_cache, rebuilds the rows of one storage element (writeCache).
 * Which of the written columns are unique is read from the table itself: two files with one checksum
 * are both cached where the sha256_hash index is not unique, and neither where it is.
 */
export async function rebuildQuery(c: pg.ClientBase, element: { id: string; url: string }, run: RebuildRun): Promise<RebuildPart> {
  const id = c.escapeLiteral(element.id)
  const url = c.escapeLiteral(element.url)
  return withCacheLock(
    c,
    QUERY_TABLE,
    async () => {
      const shape = await readTableShape(c, QUERY_TABLE)
      const unique = QUERY_COLUMNS.filter((col) => col !== 'id' && shape.unique.has(col))
      const target: CacheTable = {
        table: QUERY_TABLE,
        name: QUERY_TABLE,
        key: 'id',
        keyType: 'text',
        columns: [
          ...QUERY_COLUMNS.map((col) => [col, col === 'tags' ? 's.tags::varchar(50)[]' : `s.${col}`] as const),
          ['storage_element_id', id],
          ['storage_element_url', url],
        ],
        touch: shape.columns.has('cache_updated_at') ? ['cache_updated_at = now()'] : [],
        guard: `t.storage_element_id = ${id}`,
        unique,
        conflicts: conflicts(id, unique),
      }
      const prune = { table: QUERY_TABLE, where: `t.storage_element_id = ${id}`, name: 'storage_filename', id: 'id', keyType: 'text' }
      const describe = `${QUERY_TABLE} (storage element ${element.id})`
      return writeCache(c, run, { spec: queryStage, target, prune, describe, written: run.written })
    },
    run.lockWaitSeconds,
  )
}
