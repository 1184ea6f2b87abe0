// `cache rebuild --module storage-element` on real PostgreSQL: the library for exact values, the CLI
// (child process) for exit codes. One database, deployed through the CLI; another prefix rendered.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { AttrDocument } from '../../src/cache/attr.ts'
import { generateAttrs, renderAttr } from '../helpers/attr-tree.ts'
import { STORAGE_COLUMNS } from '../../src/cache/map.ts'
import { rebuildCache, type CacheRebuildResult } from '../../src/cache/rebuild.ts'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { scratchDir, scratchTree, snapshot, storageBaseline, writeAttr } from './cache-helpers.ts'

const FILES = 'storage_elem_01_files'
let url: string
let env: Record<string, string>

beforeAll(async () => {
  url = await freshDatabase('cache_storage')
  // The module as 0_baseline made it: rows compared column by column hold the columns of that table
  // (later columns, and what a rebuild fills in them, are cache-shape.test.ts's).
  env = { STORAGE_ELEMENT_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: copyPrismaDir('prisma-cache-storage', { at: 'baseline' }) }
  const run = await runCli(['deploy', '--module', 'storage-element'], env)
  expect(run.exitCode, run.stderr).toBe(0)
})
afterAll(() => dropDatabase('cache_storage'))

const rebuild = (root: string, more: Partial<Parameters<typeof rebuildCache>[0]> = {}) => rebuildCache({ module: 'storage-element', root, env, ...more })
const cli = async (args: string[]) => {
  const run = await runCli(['cache', 'rebuild', '--module', 'storage-element', ...args], env)
  return { ...run, json: run.stdout.startsWith('{') ? (JSON.parse(run.stdout) as CacheRebuildResult) : undefined }
}
const files = () => snapshot(url, FILES, 'file_id')
const count = async (table: string) => Number((await query<{ n: string }>(url, `select count(*) as n from ${table}`))[0].n)
const reset = () => query(url, `truncate ${FILES}, storage_elem_01_config, storage_elem_01_wal`)

/** The INSERT the storage element itself runs when a file is uploaded (what the cache should hold), and its parameters. */
function originalInsert(d: AttrDocument): [sql: string, params: unknown[]] {
  const columns = STORAGE_COLUMNS.join(', ')
  const params = STORAGE_COLUMNS.map((c) => (c === 'metadata_json' ? JSON.stringify(d.metadata) : d[c]))
  return [`insert into ${FILES} (${columns}) values (${params.map((_, i) => `$${i + 1}`).join(', ')})`, params]
}

/** The row the storage element itself writes when a file is uploaded. */
const writeOriginal = (d: AttrDocument) => query(url, ...originalInsert(d))

describe('rebuild from a generated tree', () => {
  let root: string
  let originals: Record<string, unknown>[]

  test('the rebuilt rows equal the rows originally written, every column', async () => {
    await reset()
    const tree = await scratchTree('storage', { count: 240, perHour: 40, seed: 21 })
    root = tree.root
    for (const f of tree.files) await writeOriginal(f.doc)
    originals = await files()
    expect(originals).toHaveLength(240)
    await query(url, `truncate ${FILES}`)

    const r = await rebuild(root)
    expect(r).toMatchObject({
      status: 'rebuilt',
      files: { found: 240, good: 240, skipped: 0 },
      rows: { inserted: 240, updated: 0, unchanged: 0, pruned: 0 },
      prune: 'off',
      skipped: [],
    })
    expect(await files()).toEqual(originals)
    // Spot-check against the files themselves, beyond the comparison with the originals.
    const v2 = tree.files.find((f) => f.doc.schema_version === '2.0' && f.s3)!
    const [row] = await query(url, `select storage_path, created_at::text as c, metadata_json from ${FILES} where file_id = $1`, [v2.doc.file_id])
    expect(row).toEqual({ storage_path: v2.doc.storage_path, c: expect.stringMatching(/\.\d{6}\+00$|\.\d{1,5}\+00$/), metadata_json: v2.doc.metadata })
    expect((await query(url, `select count(*)::int as n from ${FILES} where search_vector is not null`))[0].n).toBe(240)
  })

  test('config row (created, id 1) and a committed cache_rebuild in the log', async () => {
    const size = (await query<{ s: string }>(url, `select sum(file_size)::text as s from ${FILES}`))[0].s
    expect(
      await query(
        url,
        'select id, current_mode, is_master, total_files, total_size_bytes::text as b, last_cache_rebuild is not null as at from storage_elem_01_config',
      ),
    ).toEqual([{ id: 1, current_mode: 'ro', is_master: false, total_files: 240, b: size, at: true }])
    const wal = await query(
      url,
      `select operation_type, status, operation_data, completed_at is not null as done, duration_ms >= 0 as timed from storage_elem_01_wal`,
    )
    expect(wal).toEqual([
      {
        operation_type: 'cache_rebuild',
        status: 'committed',
        operation_data: {
          root,
          prefix: 'storage_elem_01',
          prune: false,
          result: { files: { found: 240, good: 240, skipped: 0 }, rows: { inserted: 240, updated: 0, unchanged: 0, pruned: 0 } },
        },
        done: true,
        timed: true,
      },
    ])
  })

  test('idempotent: a second run changes no row', async () => {
    const r = await rebuild(root)
    expect(r.rows).toEqual({ inserted: 0, updated: 0, unchanged: 240, pruned: 0 })
    expect(await files()).toEqual(originals)
    expect(await count('storage_elem_01_wal')).toBe(2)
    // The existing config row is updated, not duplicated, and keeps its mode.
    await query(url, `update storage_elem_01_config set current_mode = 'rw', total_files = 0`)
    expect((await rebuild(root)).config).toMatchObject({ totalFiles: 240, created: false })
    expect(await query(url, 'select id, current_mode, total_files from storage_elem_01_config')).toEqual([{ id: 1, current_mode: 'rw', total_files: 240 }])
  })

  test('a changed file updates its row; --dry-run first reports it and changes nothing', async () => {
    const [a, b] = [...generateAttrs({ count: 240, perHour: 40, seed: 21 })].slice(0, 2).map((g) => g)
    const changed = { ...a.doc, description: 'новое описание', file_size: 99 }
    fs.writeFileSync(path.join(root, a.rel), renderAttr(changed))
    fs.rmSync(path.join(root, b.rel))
    const fresh = { ...[...generateAttrs({ count: 1, seed: 99, start: new Date(Date.UTC(2025, 5, 1)) })][0].doc }
    writeAttr(root, fresh)
    const walBefore = await query(url, 'select * from storage_elem_01_wal order by started_at')
    const configBefore = await query(url, 'select * from storage_elem_01_config')

    const plan = await rebuild(root, { dryRun: true, prune: true })
    expect(plan).toMatchObject({
      status: 'would-rebuild',
      files: { found: 240, good: 240, skipped: 0 },
      rows: { inserted: 1, updated: 1, unchanged: 238, pruned: 1 },
      prune: 'would',
    })
    expect(plan.config).toBeUndefined()
    expect(plan.wal).toBeUndefined()
    expect(await files()).toEqual(originals)
    expect(await query(url, 'select * from storage_elem_01_wal order by started_at')).toEqual(walBefore)
    expect(await query(url, 'select * from storage_elem_01_config')).toEqual(configBefore)

    const r = await rebuild(root, { prune: true })
    expect(r.rows).toEqual({ inserted: 1, updated: 1, unchanged: 238, pruned: 1 })
    expect(await query(url, `select description, file_size::int as s from ${FILES} where file_id = $1`, [a.doc.file_id])).toEqual([
      { description: 'новое описание', s: 99 },
    ])
    expect(await query(url, `select 1 from ${FILES} where file_id = $1`, [b.doc.file_id])).toEqual([])
    expect(await query(url, `select 1 from ${FILES} where file_id = $1`, [fresh.file_id])).toHaveLength(1)
    expect(await count(FILES)).toBe(240)
  })

  test('--prune keeps the rows of files that exist but cannot be used (bad JSON, a folder of that name)', async () => {
    const [, , c, d, e] = [...generateAttrs({ count: 240, perHour: 40, seed: 21 })]
    fs.writeFileSync(path.join(root, c.rel), '{ not json')
    // A "file" that exists but cannot be read, whoever runs the test (root reads chmod 000 files).
    fs.rmSync(path.join(root, d.rel))
    fs.mkdirSync(path.join(root, d.rel))
    // A file whose content is valid but fails validation.
    fs.writeFileSync(path.join(root, e.rel), renderAttr({ ...e.doc, checksum: 'abc' }))
    const run = await cli(['--root', root, '--prune', '--json'])
    expect(run.exitCode, run.stderr).toBe(3)
    expect(run.json!.rows).toEqual({ inserted: 0, updated: 0, unchanged: 237, pruned: 0 })
    expect(run.json!.skipped).toEqual(
      [
        { path: c.rel, code: 'invalid-json', reason: expect.stringMatching(/^invalid JSON/) },
        { path: d.rel, code: 'unreadable', reason: 'could not be read (a folder, not a regular file)' },
        { path: e.rel, code: 'bad-checksum', reason: 'checksum is not 64 hex digits (3 characters)' },
      ].sort((x, y) => (x.path < y.path ? -1 : 1)),
    )
    for (const g of [c, d, e]) expect(await query(url, `select 1 from ${FILES} where file_id = $1`, [g.doc.file_id])).toHaveLength(1)
    // Once the files are really gone, their rows go too.
    for (const g of [c, d, e]) fs.rmSync(path.join(root, g.rel), { recursive: true })
    const gone = await cli(['--root', root, '--prune', '--json'])
    expect(gone.exitCode, gone.stderr).toBe(0)
    expect(gone.json!.rows.pruned).toBe(3)
  })

  test.skipIf(process.getuid?.() === 0)('--prune keeps the row of a file without read permission (chmod 000)', async () => {
    const [, , , , , f] = [...generateAttrs({ count: 240, perHour: 40, seed: 21 })]
    fs.chmodSync(path.join(root, f.rel), 0)
    try {
      const r = await rebuild(root, { prune: true })
      expect(r.skipped).toEqual([{ path: f.rel, code: 'unreadable', reason: 'could not be read (EACCES)' }])
      expect(r.rows.pruned).toBe(0)
    } finally {
      fs.chmodSync(path.join(root, f.rel), 0o644)
    }
  })

  test('--prune is refused when a folder cannot be listed, and an error when the root holds no attr.json', async () => {
    fs.mkdirSync(path.join(root, '2030/01/01'), { recursive: true })
    fs.symlinkSync(path.join(root, 'unmounted'), path.join(root, '2030/01/01/00'))
    const before = await count(FILES)
    const r = await rebuild(root, { prune: true })
    expect(r.prune).toBe('refused')
    expect(r.skipped).toEqual([{ path: '2030/01/01/00/', code: 'folder-unreadable', reason: 'folder could not be listed (ENOENT)' }])
    expect(await count(FILES)).toBe(before)
    fs.rmSync(path.join(root, '2030'), { recursive: true })

    const empty = scratchDir('storage-empty')
    const run = await cli(['--root', empty, '--prune'])
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      `error: --root ${empty} holds no attr.json at all, and --prune would delete all ${before} rows of ${FILES}: check --root (an unmounted volume?); if the element really is empty, delete the rows yourself`,
    )
    expect(await count(FILES)).toBe(before)
    expect((await query(url, `select status, error_message from storage_elem_01_wal order by started_at desc limit 1`))[0]).toEqual({
      status: 'failed',
      error_message: expect.stringContaining('holds no attr.json'),
    })
  })
})

describe('bad files are reported and skipped, never fatal (exit 3)', () => {
  test('every reason, with its path; duplicates keep neither', async () => {
    await reset()
    const { root, files: good } = await scratchTree('storage-bad', { count: 6, seed: 5, s3Share: 0 })
    const [g0, g1, g2] = [...generateAttrs({ count: 3, seed: 77, start: new Date(Date.UTC(2025, 2, 1)) })].map((g) => g.doc)
    const bad: [string, string][] = []
    const put = (code: string, doc: AttrDocument | string, rel?: string) => bad.push([writeAttr(root, doc, rel), code])
    put('invalid-json', '{"file_id": "x",', '2025/03/01/00/broken.attr.json')
    put('too-large', renderAttr({ ...g0, description: 'ы'.repeat(2500) }), `${g0.storage_path}${g0.storage_filename}.attr.json`)
    const { checksum: _c, ...noChecksum } = g1
    put('invalid-field', renderAttr(noChecksum as AttrDocument), `${g1.storage_path}${g1.storage_filename}.attr.json`)
    put('invalid-field', renderAttr({ ...g2, file_size: '12' as unknown as number }), `${g2.storage_path}${g2.storage_filename}.attr.json`)
    put('bad-file-id', { ...g0, file_id: 'not-a-uuid' }, `2025/03/01/00/${g0.storage_filename}-x.attr.json`)
    put('bad-checksum', { ...g0, checksum: 'f'.repeat(63) }, `2025/03/01/00/${g0.storage_filename}-y.attr.json`)
    put('bad-file-size', { ...g0, file_size: 0 }, `2025/03/01/00/${g0.storage_filename}-z.attr.json`)
    put('wrong-folder', { ...g0, storage_path: '2025/03/01/00/' }, `2025/03/01/05/${g0.storage_filename}.attr.json`)
    put(
      'file-id-mismatch',
      { ...g0, file_id: '11111111-2222-4333-8444-555555555555' },
      `2025/03/01/00/${g0.storage_filename.replace(g0.file_id, 'aaaaaaaa-2222-4333-8444-555555555555')}.attr.json`,
    )
    put('unsupported-version', renderAttr({ schema_version: '3.0', ...g0 } as unknown as AttrDocument), `2025/03/01/00/v3.attr.json`)
    // The same file_id twice: next to its data file and in .attrs/ (both valid, neither cached).
    const dup = good[0].doc
    put('duplicate-file-id', dup)
    put('duplicate-file-id', dup, `${dup.storage_path}.attrs/${dup.storage_filename}.attr.json`)

    const run = await cli(['--root', root, '--json'])
    expect(run.exitCode, run.stderr).toBe(3)
    const r = run.json!
    expect(r.skipped.map((s) => [s.path, s.code])).toEqual(bad.sort((a, b) => (a[0] < b[0] ? -1 : 1)))
    for (const s of r.skipped) expect(s.reason.length).toBeGreaterThan(5)
    expect(r.skipped.find((s) => s.code === 'duplicate-file-id')!.reason).toMatch(new RegExp(`^file_id ${dup.file_id} is also claimed by ${dup.storage_path}`))
    expect(r.files).toEqual({ found: 6 + bad.length - 1, good: 5, skipped: bad.length })
    expect(r.rows.inserted).toBe(5)
    expect((await query<{ id: string }>(url, `select file_id::text as id from ${FILES} order by 1`)).map((x) => x.id)).toEqual(
      good
        .slice(1)
        .map((g) => g.doc.file_id)
        .sort(),
    )

    // The text report names each skipped file too.
    const text = await cli(['--root', root])
    expect(text.exitCode).toBe(3)
    expect(text.stdout).toContain(`skipped ${bad.length} files:`)
    expect(text.stdout).toContain(`2025/03/01/00/broken.attr.json: invalid JSON`)
  })
})

describe('batches are written while files are still read (one file per batch here)', () => {
  const rebuild = (root: string, more: Partial<Parameters<typeof rebuildCache>[0]> = {}) =>
    rebuildCache({ module: 'storage-element', root, env, batchFiles: 1, ...more })

  test('a claim repeated after its first file was written keeps neither: the cached row is back untouched, a new one is gone', async () => {
    await reset()
    const { root, files: good } = await scratchTree('storage-batches', { count: 8, perHour: 4, seed: 41, s3Share: 0 })
    expect((await rebuild(root)).rows).toEqual({ inserted: 8, updated: 0, unchanged: 0, pruned: 0 })
    const before = await files()
    const [a, b] = good
    // The hour folder is read before its .attrs/: each first copy is written before its second is read.
    fs.writeFileSync(path.join(root, a.rel), renderAttr({ ...a.doc, description: 'first copy' }))
    writeAttr(root, { ...a.doc, description: 'second copy' }, `${a.doc.storage_path}.attrs/${a.doc.storage_filename}.attr.json`)
    fs.writeFileSync(path.join(root, b.rel), renderAttr({ ...b.doc, file_size: 7 }))
    writeAttr(root, { ...b.doc, checksum: 'abc' }, `${b.doc.storage_path}.attrs/${b.doc.storage_filename}.attr.json`)
    const n = [...generateAttrs({ count: 1, seed: 78, start: new Date(Date.UTC(2025, 3, 1)) })][0].doc
    writeAttr(root, n)
    writeAttr(root, n, `${n.storage_path}.attrs/${n.storage_filename}.attr.json`)

    const r = await rebuild(root, { prune: true })
    expect(r.files).toEqual({ found: 12, good: 6, skipped: 6 })
    expect(r.rows).toEqual({ inserted: 0, updated: 0, unchanged: 6, pruned: 0 })
    expect(r.skipped.map((x) => x.code).sort()).toEqual(['bad-checksum', ...Array(5).fill('duplicate-file-id')])
    expect(await files()).toEqual(before)
    expect(await query(url, 'select total_files from storage_elem_01_config')).toEqual([{ total_files: 8 }])

    // Into an empty cache: the rows written for those claims are deleted again.
    await query(url, `truncate ${FILES}`)
    const fresh = await rebuild(root)
    expect(fresh.rows).toEqual({ inserted: 6, updated: 0, unchanged: 0, pruned: 0 })
    expect((await files()).map((x) => x.file_id)).toEqual(
      good
        .slice(2)
        .map((g) => g.doc.file_id)
        .sort(),
    )
  })

  test('a conflict is judged against the row as it was before the run, even once an earlier batch changed it', async () => {
    await reset()
    const root = scratchDir('storage-batch-conflict')
    // y is read first (an earlier hour); its cached row holds the storage_filename x claims.
    const [y, x] = [...generateAttrs({ count: 2, perHour: 1, seed: 91, start: new Date(Date.UTC(2025, 4, 1)) })].map((g) => g.doc)
    await writeOriginal({ ...y, storage_filename: x.storage_filename })
    writeAttr(root, y)
    const xRel = writeAttr(root, x)
    const r = await rebuild(root)
    expect(r.rows).toEqual({ inserted: 0, updated: 1, unchanged: 0, pruned: 0 })
    expect(r.skipped).toEqual([{ path: xRel, code: 'conflict', reason: `storage_filename is already cached for another file_id (${y.file_id})` }])
    expect(await query(url, `select file_id::text as id, storage_filename from ${FILES}`)).toEqual([{ id: y.file_id, storage_filename: y.storage_filename }])
  })
})

describe('one pipeline: the dry run is the real run stopped at the write', () => {
  test('a dry run counts what the real run then does, batch by batch: duplicates across batches, conflicts, prune', async () => {
    await reset()
    const { root, files: good } = await scratchTree('storage-dry-equals-real', { count: 30, perHour: 5, seed: 95, s3Share: 0 })
    await rebuild(root)
    const [a, b, c] = [...good].sort((x, y) => (x.rel < y.rel ? -1 : 1))
    fs.writeFileSync(path.join(root, a.rel), renderAttr({ ...a.doc, description: 'changed' }))
    writeAttr(root, { ...b.doc, description: 'again' }, `${b.doc.storage_path}.attrs/${b.doc.storage_filename}.attr.json`)
    fs.rmSync(path.join(root, c.rel))
    // y is cached (its file gone) under the storage_filename x, a new file, claims: x is a conflict, and y stays (a file of that name exists).
    const [y, x] = [...generateAttrs({ count: 2, perHour: 1, seed: 97, start: new Date(Date.UTC(2025, 6, 1)) })].map((g) => g.doc)
    await writeOriginal({ ...y, storage_filename: x.storage_filename })
    writeAttr(root, x)
    const before = await files()
    for (const batchFiles of [1, 7, 10_000]) {
      const plan = await rebuild(root, { prune: true, dryRun: true, batchFiles })
      expect(await files()).toEqual(before)
      expect(plan.rows, `batchFiles ${batchFiles}`).toEqual({ inserted: 0, updated: 1, unchanged: 27, pruned: 1 })
      expect(plan.skipped.map((x) => x.code).sort()).toEqual(['conflict', 'duplicate-file-id', 'duplicate-file-id'])
    }
    const real = await rebuild(root, { prune: true, batchFiles: 1 })
    expect(real.rows).toEqual({ inserted: 0, updated: 1, unchanged: 27, pruned: 1 })
    expect(await count(FILES)).toBe(30)
  })
})

describe('CLI exit codes and prefixes', () => {
  test('0 on a clean tree, with the report as JSON', async () => {
    await reset()
    const { root } = await scratchTree('storage-clean', { count: 30, seed: 8 })
    const run = await cli(['--root', root, '--json'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ module: 'storage-element', table: FILES, files: { found: 30, good: 30, skipped: 0 } })
    const text = await cli(['--root', root, '--dry-run'])
    expect(text.exitCode).toBe(0)
    expect(text.stdout.split('\n')[0]).toMatch(/^📝 storage-element: would rebuild storage_elem_01_files from .* {2}\(postgresql:\/\//)
    expect(text.stderr).toBe('')
  })

  test.each([
    [['--root'], /^error: option '--root <dir>' argument missing/],
    [[], /^error: no attr.json folder given: pass --root <dir>/],
    [['--root', '/definitely/not/here'], /^error: --root \/definitely\/not\/here does not exist: point --root at/],
    [['--root', 'package.json'], /^error: --root package.json is not a folder: /],
    [['--root', '.', '--prefix', 'Bad-Prefix'], /^error: storage-element prefix "Bad-Prefix" does not match/],
    [
      ['--root', '.', '--storage-element-id', 'se-01'],
      /^error: --storage-element-id applies to the query module, not storage-element: drop --storage-element-id$/,
    ],
    [
      ['--root', '.', '--prefix', 'storage_elem_09'],
      /^error: table storage_elem_09_files does not exist in schema public: deploy the module first \(npx artstore-db deploy --module storage-element --prefix storage_elem_09\)$/,
    ],
  ])('2 on bad input %j', async (args, message) => {
    const run = await cli(args)
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr.trim()).toMatch(message)
  })

  test('2 for a module without a cache, and without --module', async () => {
    const admin = await runCli(['cache', 'rebuild', '--module', 'admin', '--root', '.'], env)
    expect([admin.exitCode, admin.stderr.trim()]).toEqual([2, 'error: module admin has no file-metadata cache: use --module storage-element or --module query'])
    const none = await runCli(['cache', 'rebuild', '--root', '.'], env)
    expect(none.exitCode).toBe(2)
    expect(none.stderr).toMatch(/required option '--module <module>'/)
  })

  test("--prefix rebuilds that instance's tables and leaves storage_elem_01 alone", async () => {
    await query(url, storageBaseline('storage_elem_07'))
    const before = await files()
    const { root } = await scratchTree('storage-prefix', { count: 25, seed: 12 })
    const run = await cli(['--root', root, '--prefix', 'storage_elem_07', '--json'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json).toMatchObject({ table: 'storage_elem_07_files', rows: { inserted: 25 } })
    expect(await count('storage_elem_07_files')).toBe(25)
    expect(await query(url, 'select total_files from storage_elem_07_config')).toEqual([{ total_files: 25 }])
    expect(await count('storage_elem_07_wal')).toBe(1)
    expect(await files()).toEqual(before)
  })
})

describe('locks and the log (attacks on cache rebuild)', () => {
  const lockSql = `select pg_advisory_lock(1095914563, hashtext(current_schema() || '.' || '${FILES}'))`

  test('attack: a running rebuild held the database-wide migration lock; now a deploy goes through, and a second rebuild names the one running', async () => {
    await reset()
    const { root } = await scratchTree('storage-locks', { count: 20, seed: 41 })
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    try {
      await holder.query(`set application_name = 'the other rebuild'`)
      await holder.query(lockSql)
      // Any module's deploy on this database: not blocked (it used to fail after 10 s with P1002).
      const deploy = await runCli(['deploy', '--module', 'storage-element'], env)
      expect(deploy.exitCode, deploy.stdout + deploy.stderr).toBe(0)
      const error = await rebuild(root, { lockWaitSeconds: 1 }).catch((e) => e)
      expect(error.message, `the whole message: ${error.message}`).toMatch(
        new RegExp(
          `^another cache rebuild of ${FILES} is running \\(backend pid ${(await holder.query('select pg_backend_pid() as p')).rows[0].p} \\(the other rebuild\\).*; waited 1 s\\): try again when it has finished$`,
        ),
      )
      expect(await count(FILES)).toBe(0)
    } finally {
      await holder.end()
    }
    expect((await rebuild(root)).rows.inserted).toBe(20)
  })

  test('attack: a killed run left its log row pending; the next run closes it as failed, and times are taken at the end', async () => {
    await query(
      url,
      `insert into storage_elem_01_wal (transaction_id, operation_type, status, operation_data) values (gen_random_uuid(), 'cache_rebuild', 'pending', '{}')`,
    )
    const { root } = await scratchTree('storage-wal', { count: 1000, seed: 43 })
    const r = await rebuild(root)
    const rows = await query<{ status: string; error_message: string | null; started_at: Date; completed_at: Date; duration_ms: number }>(
      url,
      `select status, error_message, started_at, completed_at, duration_ms from storage_elem_01_wal where operation_type = 'cache_rebuild' order by started_at desc limit 2`,
    )
    expect(rows.map((x) => x.status)).toEqual(['committed', 'failed'])
    expect(rows[1].error_message).toMatch(/^interrupted: the run ended without finishing/)
    expect(await count(`storage_elem_01_wal where status = 'pending'`)).toBe(0)
    // completed_at is when the run ended, not when its transaction began.
    const [done] = rows
    expect(done.duration_ms).toBeGreaterThan(100) // long enough to tell the end from the beginning
    // duration_ms is the time from the row's started_at to its completed_at (once a time taken in the
    // process, it counted the wait before the row was written: under load, more than the row's span).
    expect(Math.abs(done.completed_at.getTime() - done.started_at.getTime() - done.duration_ms)).toBeLessThanOrEqual(1)
    expect(new Date(r.config!.lastCacheRebuild).getTime()).toBeGreaterThanOrEqual(done.completed_at.getTime() - 1000)
  })
})

describe('other sessions write while a rebuild runs (attacks on cache rebuild)', () => {
  /** Inserts a cache row from another connection, synchronously (a child process), as the storage element would mid-run. */
  function insertFromAnotherSession(d: AttrDocument): void {
    const [sql, params] = originalInsert(d)
    const script = `const pg = require('pg'); (async () => { const c = new pg.Client(process.argv[1]); await c.connect(); await c.query(process.argv[2], JSON.parse(process.argv[3])); await c.end() })().catch((e) => { console.error(e.message); process.exit(1) })`
    const run = spawnSync(process.execPath, ['-e', script, url, sql, JSON.stringify(params)], { cwd: projectRoot, encoding: 'utf8', timeout: 20_000 })
    if (run.status !== 0) throw new Error(`the other session failed: ${run.stderr}`)
  }

  test('attack: --prune while attr.json files appear in folders already walked (their rows inserted before or during the run): none is pruned', async () => {
    await reset()
    const { root } = await scratchTree('storage-prune-race', { count: 1500, perHour: 100, seed: 53, s3Share: 0 })
    expect((await rebuild(root)).rows.inserted).toBe(1500)
    const late = [...generateAttrs({ count: 5, seed: 99, perHour: 100 })].map((g) => g.doc)
    for (const d of late.slice(0, 3)) await writeOriginal(d) // uploaded: row first, attr.json a moment later
    let done = false
    const r = await rebuild(root, {
      prune: true,
      onProgress: (p) => {
        if (p.phase !== 'read' || done) return
        done = true // 1000 files in: the first hour folder is behind the walk
        for (const d of late) writeAttr(root, d)
        for (const d of late.slice(3)) insertFromAnotherSession(d)
      },
    })
    expect(done).toBe(true)
    expect(r.rows.pruned).toBe(0)
    expect(await count(FILES)).toBe(1505)
  })

  test("attack: an empty cache, another session commits a row for F while the run reads, and two files claim F: that session's row stays", async () => {
    await reset()
    {
      const { root, files: good } = await scratchTree('storage-undo-race', { count: 1500, perHour: 100, seed: 57, s3Share: 0 })
      const byWalk = [...good].sort((a, b) => (a.rel < b.rel ? -1 : 1))
      const f = byWalk[0].doc // walked first: in the first batch
      const last = byWalk.at(-1)!.doc
      writeAttr(root, { ...f, storage_path: last.storage_path }) // a second claim of F, walked last: in the second batch
      const theirs = { ...f, description: 'written by the other session' }
      let done = false
      const r = await rebuild(root, {
        batchFiles: 1200,
        onProgress: (p) => {
          if (p.phase !== 'read' || done) return
          done = true // before the first batch is written
          insertFromAnotherSession(theirs)
        },
      })
      expect(done).toBe(true)
      expect(r.skipped.filter((s) => s.code === 'duplicate-file-id')).toHaveLength(2)
      expect(await query(url, `select description from ${FILES} where file_id = $1`, [f.file_id])).toEqual([{ description: 'written by the other session' }])
    }
  })
})

describe('reports cannot be forged by file names', () => {
  test('attack: a newline in an attr.json name; the text report keeps it on its one line, escaped', async () => {
    await reset()
    const { root } = await scratchTree('storage-forged-name', { count: 2, seed: 61, s3Share: 0 })
    const forged = 'x\n     2025-01-01-00-all-good.attr.json: fine'
    fs.writeFileSync(path.join(root, '2025', '01', '01', '00', `${forged}.attr.json`), '{}')
    const run = await cli(['--root', root])
    expect(run.exitCode).toBe(3)
    expect(run.stdout).toContain('2025/01/01/00/x\\n     2025-01-01-00-all-good.attr.json: fine.attr.json: ')
    expect(run.stdout.split('\n').filter((l) => l.includes('all-good'))).toHaveLength(1)
  })
})
