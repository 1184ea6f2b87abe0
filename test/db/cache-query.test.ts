// `cache rebuild --module query` on real PostgreSQL: file_metadata_cache rows of one storage element
// from its attr.json files, full-text search through the trigger, and other elements left alone.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { AttrDocument } from '../../src/cache/attr.ts'
import { generateAttrs, renderAttr, type GeneratedAttr } from '../helpers/attr-tree.ts'
import { rebuildCache, type CacheRebuildResult } from '../../src/cache/rebuild.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { scratchTree, snapshot, writeAttr } from './cache-helpers.ts'

const SE = 'se-01'
const SE_URL = 'http://se-01:8010'
let url: string
let env: Record<string, string>
let root: string
let tree: GeneratedAttr[]
/** A row of another storage element: no rebuild of se-01 may change it. */
let other: Record<string, unknown>[]

const OTHER_ID = '0aaaaaaa-0000-4000-8000-000000000000'
/** A file made to be found by a russian full-text search, with tags to cut. */
const special: AttrDocument = {
  ...[...generateAttrs({ count: 1, seed: 500, start: new Date(Date.UTC(2025, 6, 1)) })][0].doc,
  original_filename: 'Квартальная смета.xlsx',
  description: 'Бюджет филиала в Казани',
  // 55 tags, the first one 70 characters long: 50 kept, the first cut to 50 characters.
  metadata: { tags: ['д'.repeat(70), ...Array.from({ length: 54 }, (_, i) => `тег${i}`)] },
}

beforeAll(async () => {
  url = await freshDatabase('cache_query')
  // The module as 0_baseline made it, sha256_hash unique (a non-unique one is cache-shape.test.ts's).
  env = { QUERY_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: copyPrismaDir('prisma-cache-query', { at: 'baseline' }) }
  const run = await runCli(['deploy', '--module', 'query'], env)
  expect(run.exitCode, run.stderr).toBe(0)
  await query(
    url,
    `insert into file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, storage_element_id, storage_element_url, created_at, updated_at)
     values ($1, 'elsewhere.pdf', 'elsewhere_u_20250101T000000_${OTHER_ID}.pdf', 10, $2, 'u', 'se-02', 'http://se-02', now(), now())`,
    [OTHER_ID, 'e'.repeat(64)],
  )
  other = await snapshot(url, 'file_metadata_cache', 'id', "storage_element_id = 'se-02'")
  ;({ root, files: tree } = await scratchTree('query', { count: 150, perHour: 30, seed: 31 }))
  writeAttr(root, special)
})
afterAll(() => dropDatabase('cache_query'))

const rebuild = (more: Partial<Parameters<typeof rebuildCache>[0]> = {}) =>
  rebuildCache({ module: 'query', root, storageElementId: SE, storageElementUrl: SE_URL, env, ...more })
const cli = async (args: string[]) => {
  const run = await runCli(['cache', 'rebuild', '--module', 'query', ...args], env)
  return { ...run, json: run.stdout.startsWith('{') ? (JSON.parse(run.stdout) as CacheRebuildResult) : undefined }
}
const mine = () => snapshot(url, 'file_metadata_cache', 'id', `storage_element_id = '${SE}'`)
const others = () => snapshot(url, 'file_metadata_cache', 'id', "storage_element_id = 'se-02'")

const expectedTags = (d: AttrDocument) => {
  const tags = d.metadata.tags as string[] | undefined
  return tags === undefined ? null : tags.slice(0, 50).map((t) => [...t].slice(0, 50).join(''))
}

describe('query cache rebuild', () => {
  test('every column mapped from the files; tags cut and reported; the other element untouched', async () => {
    const dry = await rebuild({ dryRun: true })
    expect(dry.rows).toEqual({ inserted: 151, updated: 0, unchanged: 0, pruned: 0 })
    expect(await mine()).toEqual([])

    const r = await rebuild()
    expect(r).toMatchObject({
      module: 'query',
      table: 'file_metadata_cache',
      storageElementId: SE,
      files: { found: 151, good: 151, skipped: 0 },
      rows: { inserted: 151 },
    })
    expect(r.trimmed).toEqual([
      {
        path: `${special.storage_path}${special.storage_filename}.attr.json`,
        notes: ['55 tags, kept the first 50', `tag "${'д'.repeat(50)}"… cut to 50 characters (was 70)`],
      },
    ])
    const rows = await query(
      url,
      `select id, filename, storage_filename, file_size::text as file_size, mime_type, sha256_hash, username, tags, description, storage_element_id,
              storage_element_url, created_at, updated_at, cache_updated_at is not null as cached, search_vector is not null as searchable
         from file_metadata_cache where storage_element_id = $1 order by id`,
      [SE],
    )
    const docs = [...tree.map((g) => g.doc), special].sort((a, b) => (a.file_id < b.file_id ? -1 : 1))
    expect(rows).toEqual(
      docs.map((d) => ({
        id: d.file_id,
        filename: d.original_filename,
        storage_filename: d.storage_filename,
        file_size: String(d.file_size),
        mime_type: d.content_type,
        sha256_hash: d.checksum,
        username: d.created_by_username,
        tags: expectedTags(d),
        description: d.description,
        storage_element_id: SE,
        storage_element_url: SE_URL,
        created_at: new Date(d.created_at),
        updated_at: new Date(d.updated_at),
        cached: true,
        searchable: true,
      })),
    )
    expect(await others()).toEqual(other)
  })

  test('a full-text search (russian) finds a rebuilt file by a word form of its description', async () => {
    const hits = await query(url, `select id from file_metadata_cache where search_vector @@ plainto_tsquery('russian', $1)`, ['бюджетом в Казани'])
    expect(hits).toEqual([{ id: special.file_id }])
    expect(await query(url, `select id from file_metadata_cache where search_vector @@ plainto_tsquery('russian', 'квартальные сметы')`)).toEqual([
      { id: special.file_id },
    ])
  })

  test('idempotent: a second run changes nothing, cache_updated_at included', async () => {
    const before = await mine()
    const r = await rebuild()
    expect(r.rows).toEqual({ inserted: 0, updated: 0, unchanged: 151, pruned: 0 })
    expect(await mine()).toEqual(before)
  })

  test('--prune deletes rows of deleted files of this element only; conflicts are skipped with exit 3', async () => {
    const [gone, changed] = tree
    fs.rmSync(path.join(root, gone.rel))
    fs.writeFileSync(path.join(root, changed.rel), renderAttr({ ...changed.doc, description: 'обновлено', metadata: { tags: ['новый'] } }))
    // A file of this element claiming the other element's file id, and one sharing a checksum.
    const [x, y] = [...generateAttrs({ count: 2, seed: 600, start: new Date(Date.UTC(2025, 7, 1)) })].map((g) => g.doc)
    const stolen = { ...x, file_id: OTHER_ID, storage_filename: x.storage_filename.replace(x.file_id, OTHER_ID) }
    const xRel = writeAttr(root, stolen)
    const yRel = writeAttr(root, { ...y, checksum: 'e'.repeat(64) })

    const run = await cli(['--root', root, '--storage-element-id', SE, '--storage-element-url', SE_URL, '--prune', '--json'])
    expect(run.exitCode, run.stderr).toBe(3)
    expect(run.json!.rows).toEqual({ inserted: 0, updated: 1, unchanged: 149, pruned: 1 })
    expect(run.json!.skipped).toEqual(
      [
        { path: xRel, code: 'conflict', reason: 'file_id is cached for another storage element (se-02), whose rows this rebuild never touches' },
        {
          path: yRel,
          code: 'conflict',
          reason: `checksum is already cached for file ${OTHER_ID} (storage element se-02; sha256_hash is unique in file_metadata_cache)`,
        },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    )
    expect(await query(url, 'select 1 from file_metadata_cache where id = $1', [gone.doc.file_id])).toEqual([])
    expect(await query(url, 'select description, tags from file_metadata_cache where id = $1', [changed.doc.file_id])).toEqual([
      { description: 'обновлено', tags: ['новый'] },
    ])
    expect(await query(url, `select id from file_metadata_cache where search_vector @@ plainto_tsquery('russian', 'новые')`)).toEqual([
      { id: changed.doc.file_id },
    ])
    // The other element's row: its file is not in this root, yet it is neither pruned nor changed.
    expect(await others()).toEqual(other)
    fs.rmSync(path.join(root, xRel))
    fs.rmSync(path.join(root, yRel))
  })

  test('a checksum two files share keeps neither, whichever batches they are in; the dry run counts the same', async () => {
    const before = await mine()
    const [x, y] = [...generateAttrs({ count: 2, seed: 610, start: new Date(Date.UTC(2025, 8, 1)) })].map((g) => g.doc)
    const rels = [writeAttr(root, x), writeAttr(root, { ...y, checksum: x.checksum })].sort()
    try {
      for (const batchFiles of [10_000, 1]) {
        for (const dryRun of [true, false]) {
          const r = await rebuild({ batchFiles, dryRun })
          expect(r.rows, `batchFiles ${batchFiles}, dryRun ${dryRun}`).toEqual({ inserted: 0, updated: 0, unchanged: 150, pruned: 0 })
          expect(r.skipped.map((s) => s.path)).toEqual(rels)
          expect(r.skipped[0].reason).toBe(
            `sha256_hash ${x.checksum} is shared with ${rels[1]} (sha256_hash is unique in file_metadata_cache): neither is cached`,
          )
          expect(await mine()).toEqual(before)
        }
      }
    } finally {
      for (const rel of rels) fs.rmSync(path.join(root, rel))
    }
  })

  test('exit 2: no --storage-element-id or --storage-element-url, a bad URL, --prefix', async () => {
    for (const [args, message] of [
      [['--root', root], /^error: the query cache keeps one storage element's files per rebuild: pass --storage-element-id/],
      [['--root', root, '--storage-element-id', SE], /^error: the query cache keeps one storage element's files per rebuild: pass --storage-element-url/],
      [
        ['--root', root, '--storage-element-id', SE, '--storage-element-url', 'se-01:8010'],
        /^error: --storage-element-url "se-01:8010" is not an http\(s\) URL/,
      ],
      [
        ['--root', root, '--storage-element-id', 'x'.repeat(51), '--storage-element-url', SE_URL],
        /^error: --storage-element-id "x+" must be 1 to 50 characters/,
      ],
      [
        ['--root', root, '--storage-element-id', SE, '--storage-element-url', SE_URL, '--prefix', 'storage_elem_02'],
        /^error: --prefix applies to the storage-element module, not query/,
      ],
    ] as const) {
      const run = await cli([...args])
      expect(run.exitCode, run.stderr).toBe(2)
      expect(run.stderr.trim()).toMatch(message)
    }
    expect(await others()).toEqual(other)
  })
})
