// `cache rebuild` follows the cache table as the database has it, not as the committed schema says:
// the services' later changes (legacy-schema.md §9.2), each made in a scratch copy of the module
// folders with `migrate new` and deployed, then a rebuild. Query: sha256_hash no longer unique, so two
// files with one checksum are both cached. Storage element: cache_updated_at and cache_ttl_hours, filled
// as the services fill them (the run's time; 24 h for edit/rw elements, 168 h for ro/ar).
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { rebuildCache } from '../../src/cache/rebuild.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { migrateNew } from '../../src/migrate/new.ts'
import { generateAttrs } from '../helpers/attr-tree.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir, edit } from '../helpers/prisma-copy.ts'
import { scratchDir, writeAttr } from './cache-helpers.ts'

let url: string
let prismaDir: string
const env = () => ({ DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir })

beforeAll(async () => {
  url = await freshDatabase('cache_shape')
  // Edited by their 0_baseline text (frozen), so the edits below apply whatever the committed schemas become.
  prismaDir = copyPrismaDir('prisma-cache-shape', { at: 'baseline' })
  const deployed = await deploy({ env: env() })
  expect(deployed.map((r) => r.status)).toEqual(['applied', 'applied', 'applied'])
})
afterAll(() => dropDatabase('cache_shape'))

/** Makes the migration of a schema edit in the scratch copy and deploys it. */
async function migrateAndDeploy(module: string, name: string) {
  const written = await migrateNew({ module, name, env: env(), prismaDir })
  expect(written.status, JSON.stringify(written.findings)).toBe('written')
  const [applied] = await deploy({ module, env: env() })
  expect(applied.migrations).toEqual([written.migration])
  return written
}

describe('query: sha256_hash no longer unique', () => {
  const [a, b] = [...generateAttrs({ count: 2, seed: 700, start: new Date(Date.UTC(2025, 8, 1)) })].map((g) => g.doc)
  const checksum = 'c'.repeat(64)
  let root: string
  const rebuild = () => rebuildCache({ module: 'query', root, storageElementId: 'se-01', storageElementUrl: 'http://se-01:8010', env: env() })
  const cached = async () =>
    (await query<{ id: string }>(url, `select id from query.file_metadata_cache where sha256_hash = $1 order by id`, [checksum])).map((r) => r.id)

  beforeAll(() => {
    root = scratchDir('shape-query')
    writeAttr(root, { ...a, checksum })
    writeAttr(root, { ...b, checksum })
  })

  test('while the index is unique, two files with one checksum: neither is cached (the index would refuse the second)', async () => {
    const r = await rebuild()
    expect(r.skipped.map((s) => s.code)).toEqual(['conflict', 'conflict'])
    expect(await cached()).toEqual([])
  })

  test('the index made plain by a migration: both files are cached, nothing skipped', async () => {
    edit(
      path.join(prismaDir, 'query', 'schema.prisma'),
      '  @@unique([sha256Hash], map: "ix_file_metadata_cache_sha256_hash")',
      '  @@index([sha256Hash], map: "ix_file_metadata_cache_sha256_hash")',
    )
    const m = await migrateAndDeploy('query', 'sha256_not_unique')
    expect(m.up).toContain('CREATE INDEX "ix_file_metadata_cache_sha256_hash"')
    const r = await rebuild()
    expect(r.skipped).toEqual([])
    expect(r.rows).toMatchObject({ inserted: 2, updated: 0 })
    expect(await cached()).toEqual([a.file_id, b.file_id].sort())
    // A second run: the two rows stand as they are.
    expect((await rebuild()).rows).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 })
  })
})

describe('storage element: cache_updated_at and cache_ttl_hours', () => {
  const FILES = 'storage_element.storage_elem_01_files'
  const CONFIG = 'storage_element.storage_elem_01_config'
  const docs = [...generateAttrs({ count: 6, seed: 710, start: new Date(Date.UTC(2025, 9, 1)) })].map((g) => g.doc)
  let root: string
  const rebuild = (dryRun = false) => rebuildCache({ module: 'storage-element', root, env: env(), dryRun })
  const stamps = () =>
    query<{ ttl: number; at: Date }>(url, `select cache_ttl_hours as ttl, cache_updated_at as at from ${FILES} order by file_id`).then((rows) => ({
      ttls: [...new Set(rows.map((r) => r.ttl))],
      at: [...new Set(rows.map((r) => r.at.toISOString()))],
      n: rows.length,
    }))
  /** The last cache_rebuild entry of the log: when its run started (before its transaction) and ended. */
  const lastRun = async () =>
    (
      await query<{ started: Date; completed: Date }>(
        url,
        `select started_at as started, completed_at as completed from storage_element.storage_elem_01_wal order by started_at desc limit 1`,
      )
    )[0]

  beforeAll(async () => {
    root = scratchDir('shape-storage')
    for (const d of docs) writeAttr(root, d)
    edit(
      path.join(prismaDir, 'storage-element', 'schema.prisma'),
      '  @@unique([storageFilename], map: "ix_storage_elem_01_files_storage_filename")',
      `  cacheUpdatedAt    DateTime                 @default(now()) @map("cache_updated_at") @db.Timestamptz
  cacheTtlHours     Int                      @default(24) @map("cache_ttl_hours")

  @@unique([storageFilename], map: "ix_storage_elem_01_files_storage_filename")`,
    )
    await migrateAndDeploy('storage-element', 'cache_columns')
  })

  test('an rw element: 24 h, and cache_updated_at the time of the run, on every row', async () => {
    await query(url, `insert into ${CONFIG} (id, current_mode, is_master, total_files, total_size_bytes) values (1, 'rw', true, 0, 0)`)
    const r = await rebuild()
    expect(r.rows).toMatchObject({ inserted: 6 })
    const s = await stamps()
    expect(s).toMatchObject({ ttls: [24], n: 6 })
    expect(s.at).toHaveLength(1)
    const run = await lastRun()
    expect(new Date(s.at[0]) >= run.started && new Date(s.at[0]) <= run.completed).toBe(true)
  })

  test('the element turned ro: the same files, every row 168 h and stamped again; a dry run changes nothing', async () => {
    const before = await stamps()
    await query(url, `update ${CONFIG} set current_mode = 'ro'`)
    const dry = await rebuild(true)
    expect(dry.rows).toMatchObject({ inserted: 0, updated: 6 })
    expect(await stamps()).toEqual(before)
    const r = await rebuild()
    expect(r.rows).toMatchObject({ inserted: 0, updated: 6, unchanged: 0 })
    const s = await stamps()
    expect(s.ttls).toEqual([168])
    expect(s.at).toHaveLength(1)
    expect(s.at[0] > before.at[0]).toBe(true)
  })

  test('an unchanged cache is still stamped by each run (the services judge freshness by it); ar keeps 168 h, edit gives 24 h', async () => {
    await query(url, `update ${FILES} set cache_updated_at = now() - interval '10 days'`)
    await query(url, `update ${CONFIG} set current_mode = 'ar'`)
    const r = await rebuild()
    expect(r.rows).toMatchObject({ inserted: 0, updated: 0, unchanged: 6 })
    const s = await stamps()
    expect(s.ttls).toEqual([168])
    const run = await lastRun()
    expect(new Date(s.at[0]) >= run.started).toBe(true)
    await query(url, `update ${CONFIG} set current_mode = 'edit'`)
    expect((await rebuild()).rows).toMatchObject({ updated: 6 })
    expect((await stamps()).ttls).toEqual([24])
  })
})
