// `cache rebuild --root s3://…` (issue 22) against a real S3 server: s3rver, started by this file
// (test/helpers/s3.ts), with the services' key and key layout (legacy-schema.md §9.5), and real
// PostgreSQL. The library for exact values, the CLI (child process) for exit codes and output.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AttrDocument } from '../../src/cache/attr.ts'
import { STORAGE_COLUMNS } from '../../src/cache/map.ts'
import { checkCache } from '../../src/cache/check.ts'
import { rebuildCache, type CacheRebuildResult } from '../../src/cache/rebuild.ts'
import { generateAttrs, renderAttr, storageFilename } from '../helpers/attr-tree.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { attrKey, closedPort, createBucket, faultProxy, put, remove, renderBucketAttr, startS3, upload, type S3Server } from '../helpers/s3.ts'
import { scratchDir, snapshot } from './cache-helpers.ts'

const BUCKET = 'artstore-files'
const FILES = 'storage_elem_01_files'
let url: string
let queryUrl: string
let s3: S3Server
let env: Record<string, string>

beforeAll(async () => {
  ;[url, queryUrl, s3] = await Promise.all([freshDatabase('cache_s3'), freshDatabase('cache_s3_query'), startS3('cache')])
  env = { STORAGE_ELEMENT_DATABASE_URL: url, QUERY_DATABASE_URL: queryUrl, ...s3.env }
  for (const module of ['storage-element', 'query']) {
    const run = await runCli(['deploy', '--module', module], env)
    expect(run.exitCode, run.stderr).toBe(0)
  }
  await createBucket(s3, BUCKET)
})
afterAll(async () => {
  await s3?.stop()
  await Promise.all([dropDatabase('cache_s3'), dropDatabase('cache_s3_query')])
})

const root = (folder: string) => `s3://${BUCKET}/${folder}`
const rebuild = (roots: string | string[], more: Partial<Parameters<typeof rebuildCache>[0]> = {}) =>
  rebuildCache({ module: 'storage-element', root: roots, env, ...more })
const files = () => snapshot(url, FILES, 'file_id')
const reset = () => query(url, `truncate ${FILES}, storage_elem_01_config, storage_elem_01_wal`)
const ids = async () => (await query<{ id: string }>(url, `select file_id::text as id from ${FILES} order by 1`)).map((r) => r.id)

/** `count` generated documents (a seed of their own), hours starting at `start`. */
const docs = (count: number, seed: number, start = new Date(Date.UTC(2025, 11, 1))) =>
  [...generateAttrs({ count, seed, perHour: 400, start })].map((g) => g.doc)

/** Uploads each document as a storage element does (data object, then attr.json), `n` at a time. */
async function uploadAll(folder: string, list: AttrDocument[], n = 8): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < list.length) await upload(s3, BUCKET, folder, list[next++])
    }),
  )
}

/**
 * A fault proxy in front of the bucket that runs `act` once, before the first GET of a file: after the
 * listing, while the run reads. `acted()` tells whether it ran.
 */
async function actingAtFirstRead(act: () => Promise<void>) {
  let ran = false
  const proxy = await faultProxy(s3.port, {
    before: async (r) => {
      if (ran || r.method !== 'GET' || r.list) return
      ran = true
      await act()
    },
  })
  return { proxy, acted: () => ran }
}

/** The row the storage element writes for a document (what a rebuild must give back), timestamps as PostgreSQL reads them. */
const expectedRow = (d: AttrDocument) => ({
  ...Object.fromEntries(STORAGE_COLUMNS.map((c) => [c, c === 'metadata_json' ? d.metadata : d[c as keyof AttrDocument]])),
})

async function rowsOf(list: AttrDocument[]): Promise<Record<string, unknown>[]> {
  const rows = await query(
    url,
    `select ${STORAGE_COLUMNS.map((c) => (c === 'created_at' || c === 'updated_at' ? `to_char(${c} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') as ${c}` : c)).join(', ')}
       from ${FILES} where file_id = any($1::uuid[]) order by file_id`,
    [list.map((d) => d.file_id)],
  )
  return rows.map((r) => ({ ...r, file_size: Number(r.file_size) }))
}

describe('one element folder of the bucket', () => {
  const folder = 'storage_element_01'
  let main: AttrDocument[]
  let special: AttrDocument[]

  beforeAll(async () => {
    // Past one page of ListObjectsV2 (1 000 keys): 603 attr.json, each with its data object beside it.
    main = docs(600, 5)
    // Cyrillic, a space and a + in the key; microseconds 0 (str(datetime) writes no fraction then).
    const at = new Date(Date.UTC(2025, 11, 2, 9, 30, 0))
    special = ['Отчёт за 2025 год.pdf', 'plan + budget v2.xlsx', 'a  b+c=d.txt'].map((name, i) => {
      const id = `0000000${i}-1111-4222-8333-444455556666`
      return {
        ...main[i],
        file_id: id,
        original_filename: name,
        storage_filename: storageFilename(name, 'a.ivanov', at, id),
        storage_path: '2025/12/02/09/',
        created_at: '2025-12-02T09:30:00.000000+00:00',
        updated_at: '2025-12-02T09:30:00.000000+00:00',
        checksum: `${i}`.repeat(64),
      }
    })
    await uploadAll(folder, [...main, ...special])
    // Keys that are not attr.json files of this element: wrong depth, not a date folder, deeper folders, the suffix alone.
    for (const key of [
      `${folder}/2025/12/01/stray_x_20251201T000000_${main[0].file_id}.pdf.attr.json`,
      `${folder}/tmp/2025/12/01/00/x.attr.json`,
      `${folder}/2025/12/01/00/sub/${main[1].storage_filename}.attr.json`,
      `${folder}/2025/12/01/00/.attr.json`,
      `${folder}.attr.json`,
    ])
      await put(s3, BUCKET, key, 'not read')
    // An element whose folder name starts with this one's.
    await uploadAll('storage_element_010', docs(3, 77))
  }, 240_000)

  test("the bucket writer's format, paging past 1 000 keys (1 200), Cyrillic, space and + in keys, data objects left alone", async () => {
    await reset()
    const r = await rebuild(root(folder))
    expect(r).toMatchObject({
      status: 'rebuilt',
      root: root(folder),
      files: { found: 603, good: 603, skipped: 0 },
      rows: { inserted: 603, updated: 0, unchanged: 0, pruned: 0 },
      skipped: [],
    })
    // Every column as the storage element wrote it, from files with a space in their timestamps.
    expect(await rowsOf([...main, ...special])).toEqual([...main, ...special].sort((a, b) => a.file_id.localeCompare(b.file_id)).map(expectedRow))
    // Nothing of storage_element_010.
    expect((await ids()).filter((id) => docs(3, 77).some((d) => d.file_id === id))).toEqual([])
    // A second run: nothing changes.
    expect((await rebuild(root(folder))).rows).toEqual({ inserted: 0, updated: 0, unchanged: 603, pruned: 0 })
  })

  test('the folder that shares the prefix is read alone: storage_element_010 is not storage_element_01', async () => {
    await reset()
    const r = await rebuild(root('storage_element_010'))
    expect(r.files).toEqual({ found: 3, good: 3, skipped: 0 })
    expect(await ids()).toEqual(
      docs(3, 77)
        .map((d) => d.file_id)
        .sort(),
    )
  })

  test('--dry-run gives the report of the real run, and changes nothing', async () => {
    await reset()
    const before = await files()
    const dry = await rebuild(root(folder), { dryRun: true })
    expect(await files()).toEqual(before)
    const real = await rebuild(root(folder))
    const strip = (x: CacheRebuildResult) => ({ ...x, status: undefined, durationMs: undefined, config: undefined, wal: undefined })
    expect(strip(dry)).toEqual(strip(real))
    expect(dry.status).toBe('would-rebuild')
  })

  test('a listing that keeps failing past the first page fails the run: rolled back, nothing pruned', async () => {
    await reset()
    expect((await rebuild(root(folder))).rows.inserted).toBe(603)
    // A row whose file is not in the bucket: a run that finished would prune it.
    const stray = {
      ...main[0],
      file_id: 'ffffffff-1111-4222-8333-444455556666',
      storage_filename: 'stray_x_20251201T000000_ffffffff-1111-4222-8333-444455556666.pdf',
    }
    await query(
      url,
      `insert into ${FILES} (file_id, original_filename, storage_filename, file_size, content_type, created_at, updated_at, created_by_id, created_by_username, storage_path, checksum) values ($1, 'x', $2, 1, 'x', now(), now(), '1', 'x', $3, $4)`,
      [stray.file_id, stray.storage_filename, stray.storage_path, 'f'.repeat(64)],
    )
    const before = await files()
    // The check before the run and the first page pass; every listing after them answers 503.
    let lists = 0
    const failing = await faultProxy(s3.port, { fail503: (r) => r.list && ++lists > 2 })
    try {
      const run = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', root(folder), '--prune'], {
        ...env,
        STORAGE_S3_ENDPOINT_URL: failing.endpoint,
      })
      expect(run.exitCode, run.stderr).toBe(1)
      expect(run.stderr).toMatch(
        new RegExp(
          `^error: listing s3://${BUCKET}/${folder} failed after retries \\(SlowDown, HTTP 503\\): nothing was changed or pruned; run cache rebuild again when the bucket answers\\n$`,
        ),
      )
      expect(lists).toBeGreaterThan(3)
      expect(await files()).toEqual(before)
    } finally {
      await failing.close()
    }
  })
})

describe('the bucket changing under a run', () => {
  test('an object deleted after the listing is gone (not an error); one overwritten is read as its newest content', async () => {
    await reset()
    const folder = 'storage_element_20'
    const [kept, deleted, overwritten] = docs(3, 20)
    await uploadAll(folder, [kept, deleted, overwritten])
    const newer = { ...overwritten, description: 'rewritten during the run', updated_at: '2025-12-05T10:00:00.000001+00:00' }
    // Between the listing and each GET, as the proxy sees the GET arrive.
    const proxy = await faultProxy(s3.port, {
      before: async (r) => {
        if (r.method !== 'GET' || r.list) return
        if (r.key === attrKey(folder, deleted)) await remove(s3, BUCKET, r.key)
        if (r.key === attrKey(folder, overwritten)) await put(s3, BUCKET, r.key, renderBucketAttr(newer))
      },
    })
    try {
      const r = await rebuild(root(folder), { env: { ...env, STORAGE_S3_ENDPOINT_URL: proxy.endpoint } })
      expect(r).toMatchObject({ files: { found: 2, good: 2, skipped: 0 }, gone: 1, skipped: [] })
      expect(await query(url, `select file_id::text as id, description from ${FILES} order by 1`)).toEqual(
        [
          { id: kept.file_id, description: kept.description },
          { id: overwritten.file_id, description: 'rewritten during the run' },
        ].sort((a, b) => a.id.localeCompare(b.id)),
      )
    } finally {
      await proxy.close()
    }
  })

  test('an oversized object is skipped from its listed size, without a GET; 5 KiB (over the local 4096) is read', async () => {
    await reset()
    const folder = 'storage_element_21'
    const [big, large] = docs(2, 21)
    await upload(s3, BUCKET, folder, big, renderBucketAttr({ ...big, metadata: { blob: 'x'.repeat(70_000) } }))
    await upload(s3, BUCKET, folder, large, renderBucketAttr({ ...large, metadata: { blob: 'y'.repeat(5_000) } }))
    const proxy = await faultProxy(s3.port, {})
    try {
      const r = await rebuild(root(folder), { env: { ...env, STORAGE_S3_ENDPOINT_URL: proxy.endpoint } })
      expect(r.files).toEqual({ found: 2, good: 1, skipped: 1 })
      expect(r.skipped).toEqual([
        {
          path: `${big.storage_path}${big.storage_filename}.attr.json`,
          code: 'too-large',
          reason: expect.stringMatching(/^larger than 65536 bytes \(\d+ bytes listed\): not read$/),
        },
      ])
      expect(proxy.seen.filter((s) => s.method === 'GET' && s.key === attrKey(folder, big))).toEqual([])
      expect(await ids()).toEqual([large.file_id])
    } finally {
      await proxy.close()
    }
  })

  test('--prune while objects are uploaded: only a row whose file was gone at the end goes', async () => {
    await reset()
    const folder = 'storage_element_22'
    const [present, removed, arriving, fresh] = docs(4, 22)
    await uploadAll(folder, [present, removed, arriving])
    expect((await rebuild(root(folder))).rows.inserted).toBe(3)
    await remove(s3, BUCKET, attrKey(folder, removed))
    await remove(s3, BUCKET, attrKey(folder, arriving))
    // After the listing (at the first GET), one file whose row exists comes back and a new one arrives.
    const { proxy, acted } = await actingAtFirstRead(async () => {
      await upload(s3, BUCKET, folder, arriving)
      await upload(s3, BUCKET, folder, fresh)
    })
    try {
      const r = await rebuild(root(folder), { prune: true, env: { ...env, STORAGE_S3_ENDPOINT_URL: proxy.endpoint } })
      expect(acted()).toBe(true)
      expect(r).toMatchObject({ prune: 'done', files: { found: 1, good: 1, skipped: 0 }, rows: { inserted: 0, updated: 0, unchanged: 1, pruned: 1 } })
      expect(await ids()).toEqual([present.file_id, arriving.file_id].sort())
    } finally {
      await proxy.close()
    }
  })

  test('injected 503s and dropped connections are retried: every file is read', async () => {
    await reset()
    const folder = 'storage_element_23'
    const list = docs(60, 23)
    await uploadAll(folder, list)
    const proxy = await faultProxy(s3.port, { fail503: (r) => r.n % 4 === 0, drop: (r) => r.n % 7 === 3 })
    try {
      const r = await rebuild(root(folder), { env: { ...env, STORAGE_S3_ENDPOINT_URL: proxy.endpoint } })
      expect(r.files).toEqual({ found: 60, good: 60, skipped: 0 })
      expect(proxy.injected()).toBeGreaterThan(20)
      expect((await ids()).length).toBe(60)
    } finally {
      await proxy.close()
    }
  })
})

test('cache check from the bucket: consistent after a rebuild; an object removed is a row without a file (exit 1)', async () => {
  await reset()
  const folder = 'storage_element_25'
  const list = docs(5, 25)
  await uploadAll(folder, list)
  await rebuild(root(folder))
  expect(await checkCache({ module: 'storage-element', root: root(folder), env })).toMatchObject({
    status: 'consistent',
    rows: 5,
    files: { found: 5, good: 5 },
  })
  await remove(s3, BUCKET, attrKey(folder, list[2]))
  const run = await runCli(['cache', 'check', '--module', 'storage-element', '--root', root(folder), '--json'], env)
  expect(run.exitCode, run.stderr).toBe(1)
  expect(JSON.parse(run.stdout)).toMatchObject({
    status: 'inconsistent',
    rowsWithoutFile: [{ key: list[2].file_id, storageFilename: list[2].storage_filename }],
  })
})

describe('refusals: exit 2, one line naming the fix, no row changed, no secret printed', () => {
  const SECRET = 'Sup3r-Secret-Key-Value'
  let before: unknown
  beforeAll(async () => {
    await reset()
    await uploadAll('storage_element_30', docs(2, 30))
    await rebuild(root('storage_element_30'))
    before = await files()
  })

  const refused = async (name: string, args: string[], extra: Record<string, string>, message: RegExp) => {
    const run = await runCli(['cache', 'rebuild', '--module', 'storage-element', ...args, '--prune'], { ...env, ...extra })
    expect(run.exitCode, `${name}: ${run.stderr}`).toBe(2)
    expect(run.stderr, name).toMatch(message)
    expect(run.stderr.trim().split('\n'), name).toHaveLength(1)
    for (const secret of [SECRET, 'AKIA-WRONG-ID']) expect(run.stdout + run.stderr, name).not.toContain(secret)
    expect(await files(), name).toEqual(before)
  }

  test('wrong credentials', () =>
    refused(
      'wrong key',
      ['--root', root('storage_element_30')],
      { STORAGE_S3_ACCESS_KEY_ID: 'AKIA-WRONG-ID', STORAGE_S3_SECRET_ACCESS_KEY: SECRET },
      /^error: http:\/\/127\.0\.0\.1:\d+\/? refused the credentials for bucket artstore-files \(InvalidAccessKeyId, HTTP 403\): fix STORAGE_S3_ACCESS_KEY_ID and STORAGE_S3_SECRET_ACCESS_KEY\n$/,
    ))

  test('a missing bucket', () =>
    refused(
      'missing bucket',
      ['--root', 's3://no-such-bucket/storage_element_30'],
      { STORAGE_S3_SECRET_ACCESS_KEY: SECRET },
      /^error: bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+\/?: fix the bucket in --root, or STORAGE_S3_ENDPOINT_URL if this is the wrong server\n$/,
    ))

  test('a closed port', async () => {
    const port = await closedPort()
    await refused(
      'closed port',
      ['--root', root('storage_element_30')],
      { STORAGE_S3_ENDPOINT_URL: `http://user:${SECRET}@127.0.0.1:${port}`, STORAGE_S3_SECRET_ACCESS_KEY: SECRET },
      new RegExp(
        `^error: cannot reach the S3 endpoint http://user:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}/? \\(ECONNREFUSED\\): start it, or fix STORAGE_S3_ENDPOINT_URL\\n$`,
      ),
    )
  })

  test('no endpoint variable, and a root that is not s3://<bucket>/<folder>', async () => {
    await refused(
      'no endpoint',
      ['--root', root('storage_element_30')],
      { STORAGE_S3_ENDPOINT_URL: '' },
      /^error: STORAGE_S3_ENDPOINT_URL is not set, and an s3:\/\/ root needs it/,
    )
    await refused(
      'bad bucket',
      ['--root', 's3://Bad_Bucket/x'],
      {},
      /^error: --root s3:\/\/Bad_Bucket\/x names the bucket "Bad_Bucket", which is not a valid bucket name/,
    )
  })
})

describe('several roots and the query module', () => {
  test('a bucket root and a local .attrs root with the same ids: the later updated_at wins, and the report says so', async () => {
    await reset()
    const folder = 'storage_element_40'
    const [a, b, onlyLocal, onlyBucket] = docs(4, 40)
    const local = scratchDir('s3-local-attrs')
    const writeLocal = (d: AttrDocument) => {
      const file = path.join(local, d.storage_path, '.attrs', `${d.storage_filename}.attr.json`)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, renderAttr(d))
    }
    // a: the bucket's copy is newer; b: the local one is.
    writeLocal({ ...a, description: 'local a', updated_at: '2025-12-01T10:00:00.000000+00:00' })
    await upload(s3, BUCKET, folder, { ...a, description: 'bucket a', updated_at: '2025-12-02T10:00:00.000000+00:00' })
    writeLocal({ ...b, description: 'local b', updated_at: '2025-12-03T10:00:00.500000+00:00' })
    await upload(s3, BUCKET, folder, { ...b, description: 'bucket b', updated_at: '2025-12-03T10:00:00.000000+00:00' })
    writeLocal(onlyLocal)
    await upload(s3, BUCKET, folder, onlyBucket)

    const r = await rebuild([local, root(folder)])
    expect(r).toMatchObject({ root: `${local}, ${root(folder)}`, files: { found: 4, good: 4, skipped: 0 }, skipped: [] })
    const rel = (d: AttrDocument, s3 = false) =>
      (s3 ? `${root(folder)}/${d.storage_path}` : `${local}/${d.storage_path}.attrs/`) + `${d.storage_filename}.attr.json`
    expect(r.superseded).toEqual(
      [
        { path: rel(a), by: rel(a, true), reason: `the same file_id is in ${rel(a, true)}, updated later (2025-12-02 10:00:00+00:00): that one is cached` },
        { path: rel(b, true), by: rel(b), reason: `the same file_id is in ${rel(b)}, updated later (2025-12-03T10:00:00.500000+00:00): that one is cached` },
      ].sort((x, y) => (x.path < y.path ? -1 : 1)),
    )
    expect(
      await query(url, `select file_id::text as id, description from ${FILES} where file_id = any($1::uuid[]) order by 1`, [[a.file_id, b.file_id]]),
    ).toEqual(
      [
        { id: a.file_id, description: 'bucket a' },
        { id: b.file_id, description: 'local b' },
      ].sort((x, y) => x.id.localeCompare(y.id)),
    )
    // The CLI takes --root twice, and says the same.
    const run = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', local, '--root', root(folder), '--dry-run'], env)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toContain('superseded 2 files (the same file_id in another root, updated later):')
  })

  test('the query module rebuilds two elements from their folders; each rebuild touches its own rows only', async () => {
    const one = docs(5, 50)
    const two = docs(4, 51)
    await uploadAll('storage_element_51', one)
    await uploadAll('storage_element_52', two)
    const q = (folder: string, id: string) =>
      rebuildCache({ module: 'query', root: root(folder), storageElementId: id, storageElementUrl: `http://${id}:8010`, env })
    expect((await q('storage_element_51', 'se-51')).rows.inserted).toBe(5)
    expect((await q('storage_element_52', 'se-52')).rows.inserted).toBe(4)
    const rows = () => query(queryUrl, `select storage_element_id as e, count(*)::int as n from file_metadata_cache group by 1 order by 1`)
    expect(await rows()).toEqual([
      { e: 'se-51', n: 5 },
      { e: 'se-52', n: 4 },
    ])
    await remove(s3, BUCKET, attrKey('storage_element_52', two[0]))
    const again = await rebuildCache({
      module: 'query',
      root: root('storage_element_52'),
      storageElementId: 'se-52',
      storageElementUrl: 'http://se-52:8010',
      prune: true,
      env,
    })
    expect(again.rows).toEqual({ inserted: 0, updated: 0, unchanged: 3, pruned: 1 })
    expect(await rows()).toEqual([
      { e: 'se-51', n: 5 },
      { e: 'se-52', n: 3 },
    ])
  })

  test("query --prune of one element's bucket folder: only its rows of the start whose file is absent at the end go", async () => {
    const folder = 'storage_element_53'
    const [present, removed, arriving, fresh] = docs(4, 53)
    const other = docs(1, 54)
    await uploadAll(folder, [present, removed, arriving])
    await uploadAll('storage_element_54', other)
    const q = (f: string, id: string, more: Partial<Parameters<typeof rebuildCache>[0]> = {}) =>
      rebuildCache({ module: 'query', root: root(f), storageElementId: id, storageElementUrl: `http://${id}:8010`, env, ...more })
    expect((await q(folder, 'se-53')).rows.inserted).toBe(3)
    // Another element's row, whose file is not in this folder: never this rebuild's to prune.
    expect((await q('storage_element_54', 'se-54')).rows.inserted).toBe(1)
    await remove(s3, BUCKET, attrKey(folder, removed))
    await remove(s3, BUCKET, attrKey(folder, arriving))
    // After the listing (at the first GET): a file whose row exists comes back, a new one arrives, and
    // a row of this element appears that the run did not start with (no file stands for it).
    const { proxy, acted } = await actingAtFirstRead(async () => {
      await upload(s3, BUCKET, folder, arriving)
      await upload(s3, BUCKET, folder, fresh)
      await query(
        queryUrl,
        `insert into file_metadata_cache (id, filename, storage_filename, file_size, mime_type, sha256_hash, username, created_at, updated_at, storage_element_id, storage_element_url)
         values ('written-during-the-run', 'x.pdf', 'x_written.pdf', 1, 'application/pdf', 'written-during-the-run', 'u', now(), now(), 'se-53', 'http://se-53:8010')`,
      )
    })
    try {
      const r = await q(folder, 'se-53', { prune: true, env: { ...env, STORAGE_S3_ENDPOINT_URL: proxy.endpoint } })
      expect(acted()).toBe(true)
      expect(r).toMatchObject({ prune: 'done', files: { found: 1, good: 1, skipped: 0 }, rows: { inserted: 0, updated: 0, unchanged: 1, pruned: 1 } })
      const rows = await query<{ e: string; id: string }>(
        queryUrl,
        `select storage_element_id as e, id from file_metadata_cache where storage_element_id in ('se-53', 'se-54') order by 1, 2`,
      )
      expect(rows).toEqual([
        ...[present.file_id, arriving.file_id, 'written-during-the-run'].sort().map((id) => ({ e: 'se-53', id })),
        { e: 'se-54', id: other[0].file_id },
      ])
    } finally {
      await proxy.close()
    }
  })

  test('an instances file whose root is a bucket folder', async () => {
    await reset()
    await uploadAll('storage_element_60', docs(3, 60))
    const dir = scratchDir('s3-instances')
    const file = path.join(dir, 'instances.json')
    fs.writeFileSync(
      file,
      JSON.stringify({ instances: [{ name: 'se-60', urlEnv: 'STORAGE_ELEMENT_DATABASE_URL', prefix: 'storage_elem_01', root: root('storage_element_60') }] }),
    )
    const run = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--instances', file, '--json'], env)
    expect(run.exitCode, run.stderr).toBe(0)
    expect((await ids()).length).toBe(3)
  })
})
