// `cache check` (issue 22) on real PostgreSQL, from a local root: each kind of inconsistency found,
// the services' own small differences left alone, nothing ever written. The library for exact
// values, the CLI (child process) for exit codes.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { CacheCheckResult } from '../../src/cache/check.ts'
import { checkCache } from '../../src/cache/check.ts'
import { rebuildCache } from '../../src/cache/rebuild.ts'
import { attrRelPath, renderAttr } from '../helpers/attr-tree.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { scratchTree, snapshot, writeAttr } from './cache-helpers.ts'

const FILES = 'storage_elem_01_files'
let url: string
let queryUrl: string
let env: Record<string, string>

beforeAll(async () => {
  ;[url, queryUrl] = await Promise.all([freshDatabase('cache_check'), freshDatabase('cache_check_query')])
  env = { STORAGE_ELEMENT_DATABASE_URL: url, QUERY_DATABASE_URL: queryUrl }
  for (const module of ['storage-element', 'query']) {
    const run = await runCli(['deploy', '--module', module], env)
    expect(run.exitCode, run.stderr).toBe(0)
  }
})
afterAll(() => Promise.all([dropDatabase('cache_check'), dropDatabase('cache_check_query')]))

const check = (root: string, more: Partial<Parameters<typeof checkCache>[0]> = {}) => checkCache({ module: 'storage-element', root, env, ...more })
const cli = async (args: string[]) => {
  const run = await runCli(['cache', 'check', ...args, '--json'], env)
  return { ...run, json: run.stdout.startsWith('{') ? (JSON.parse(run.stdout) as CacheCheckResult) : undefined }
}
const empty = { rowsWithoutFile: [], filesWithoutRow: [], differing: [], expired: [], skipped: [] }

describe('the storage element', () => {
  test('a cache just rebuilt is consistent: exit 0; the table without TTL columns is not checked for expiry', async () => {
    const { root } = await scratchTree('check-consistent', { count: 30, perHour: 10, seed: 61 })
    await rebuildCache({ module: 'storage-element', root, env })
    expect(await check(root)).toMatchObject({ status: 'consistent', files: { found: 30, good: 30, skipped: 0 }, rows: 30, ttl: false, ...empty })
    const run = await cli(['--module', 'storage-element', '--root', root])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ status: 'consistent', rows: 30 })
  })

  test('each kind of inconsistency, and none of the differences the services make themselves; nothing written', async () => {
    await query(url, `truncate ${FILES}`)
    const { root, files } = await scratchTree('check-kinds', { count: 8, perHour: 10, seed: 62 })
    await rebuildCache({ module: 'storage-element', root, env })
    const [gone, changed, late, nullMeta, expired, , , extra] = files
    // A row without its file, a file without its row.
    fs.rmSync(path.join(root, gone.rel))
    await query(url, `delete from ${FILES} where file_id = $1`, [extra.doc.file_id])
    // A file changed after its row was written.
    fs.writeFileSync(path.join(root, changed.rel), renderAttr({ ...changed.doc, description: 'changed in the file', file_size: 7 }))
    // The services' own: updated_at written twice, microseconds apart; NULL where the file has {}.
    await query(url, `update ${FILES} set updated_at = updated_at + interval '300 milliseconds' where file_id = $1`, [late.doc.file_id])
    await query(url, `update ${FILES} set metadata_json = null where file_id = $1`, [nullMeta.doc.file_id])
    fs.writeFileSync(path.join(root, nullMeta.rel), renderAttr({ ...nullMeta.doc, metadata: {} }))
    // A bad file: skipped, with its reason.
    const bad = writeAttr(root, '{"file_id": 1}', '2025/01/01/00/bad_x_20250101T000000_00000000-0000-4000-8000-000000000000.pdf.attr.json')
    // The services' later schema (§9.2): TTL columns; one row past its TTL.
    await query(url, `alter table ${FILES} add column cache_updated_at timestamptz not null default now(), add column cache_ttl_hours int not null default 24`)
    await query(url, `update ${FILES} set cache_updated_at = now() - interval '25 hours' where file_id = $1`, [expired.doc.file_id])
    const before = await snapshot(url, FILES, 'file_id')

    const r = await check(root)
    expect(r).toMatchObject({ status: 'inconsistent', files: { found: 8, good: 7, skipped: 1 }, rows: 7, ttl: true })
    expect(r.rowsWithoutFile).toEqual([{ key: gone.doc.file_id, storageFilename: gone.doc.storage_filename }])
    expect(r.filesWithoutRow).toEqual([{ path: extra.rel, key: extra.doc.file_id }])
    expect(r.differing).toEqual([{ path: changed.rel, key: changed.doc.file_id, columns: ['file_size', 'description'] }])
    expect(r.expired).toEqual([{ key: expired.doc.file_id, expiredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }])
    expect(r.skipped).toEqual([{ path: bad, code: 'invalid-field', reason: 'file_id is number, expected a string' }])
    expect(await snapshot(url, FILES, 'file_id')).toEqual(before)

    const run = await cli(['--module', 'storage-element', '--root', root])
    expect(run.exitCode, run.stderr).toBe(1)
    expect({ ...run.json, durationMs: 0 }).toEqual({ ...r, durationMs: 0 })
    const text = await runCli(['cache', 'check', '--module', 'storage-element', '--root', root], env)
    expect(text.stdout).toContain(`rows that differ from their file: 1\n     ${changed.rel}: file_size, description`)
    expect(await snapshot(url, FILES, 'file_id')).toEqual(before)
    await query(url, `alter table ${FILES} drop column cache_updated_at, drop column cache_ttl_hours`)
  })

  test('bad input: exit 2, one line', async () => {
    for (const [args, message] of [
      [['--module', 'storage-element'], /^error: no attr\.json folder given: pass --root <dir>/],
      [['--module', 'storage-element', '--root', '/definitely/not/here'], /^error: --root \/definitely\/not\/here does not exist/],
      [['--module', 'query', '--root', '.'], /^error: the query cache keeps one storage element's files per rebuild: pass --storage-element-id/],
      [['--module', 'admin', '--root', '.'], /^error: module admin has no file-metadata cache/],
    ] as const) {
      const run = await runCli(['cache', 'check', ...args], env)
      expect(run.exitCode, `${args.join(' ')}: ${run.stderr}`).toBe(2)
      expect(run.stderr).toMatch(message)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
    }
  })
})

test('the query module: one storage element’s rows against its files, other elements left out', async () => {
  const { root, files } = await scratchTree('check-query', { count: 6, perHour: 10, seed: 63 })
  const q = { module: 'query', root, storageElementId: 'se-01', storageElementUrl: 'http://se-01:8010', env }
  await rebuildCache(q)
  await rebuildCache({
    ...q,
    storageElementId: 'se-02',
    storageElementUrl: 'http://se-02:8010',
    root: (await scratchTree('check-query-2', { count: 2, seed: 64 })).root,
  })
  expect(await checkCache({ module: 'query', root, storageElementId: 'se-01', env })).toMatchObject({ status: 'consistent', rows: 6, ttl: false, ...empty })
  await query(queryUrl, `update file_metadata_cache set tags = '{other}', username = 'someone' where id = $1`, [files[0].doc.file_id])
  fs.rmSync(path.join(root, attrRelPath(files[1].doc, files[1].s3)))
  const r = await checkCache({ module: 'query', root, storageElementId: 'se-01', env })
  expect(r).toMatchObject({ status: 'inconsistent', rows: 6, filesWithoutRow: [], expired: [] })
  expect(r.rowsWithoutFile).toEqual([{ key: files[1].doc.file_id, storageFilename: files[1].doc.storage_filename }])
  expect(r.differing).toEqual([{ path: files[0].rel, key: files[0].doc.file_id, columns: ['username', 'tags'] }])
})
