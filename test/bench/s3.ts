/**
 * `npm run bench -- --only s3`: a storage-element rebuild from the bucket (s3rver, started here, as the
 * tests start it) against, in the same run,
 * - a bare SDK loop that lists the same keys and GETs the same objects at the same concurrency;
 * - the services' own method (cache_rebuild_service.py, legacy-schema.md §9.5): sequential GETs with a
 *   new client for every file, then an INSERT per row and a commit every 100 rows; it is timed on a
 *   sample of the files (`--services-sample`, default 1 000) and compared as files/s;
 * - `cache check` against a bare listing of the same keys.
 * N attr.json objects (`--files`, default 10 000), each with its data object, are seeded straight
 * into s3rver's store folder (uploading them through HTTP would take longer than the bench).
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import pg from 'pg'
import { checkCache } from '../../src/cache/check.ts'
import { rebuildCache } from '../../src/cache/rebuild.ts'
import { DEFAULT_S3_CONCURRENCY } from '../../src/cache/source-s3.ts'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'
import { modules } from '../../src/modules.ts'
import { generateAttrs } from '../helpers/attr-tree.ts'
import { renderBucketAttr, S3_KEY, startS3, type S3Server } from '../helpers/s3.ts'
import { scratchRoot } from '../helpers/workdir.ts'

const BUCKET = 'artstore-files'
const FOLDER = 'storage_element_01'

export interface S3BenchResult {
  files: number
  concurrency: number
  rebuildMs: number
  bareMs: number
  /** bareMs / rebuildMs (goal ≥ 0.8). */
  vsBare: number
  servicesSample: number
  servicesFilesPerSec: number
  rebuildFilesPerSec: number
  /** rebuild files/s over the services' files/s (goal ≥ 5). */
  vsServices: number
  checkMs: number
  listMs: number
  /** listMs / checkMs. */
  checkVsList: number
  peakRssMiB: number
}

const mib = (bytes: number) => Math.round(bytes / 1048576)

/** Writes an object the way s3rver's filesystem store keeps it: content, md5, metadata. */
function seedObject(dir: string, key: string, body: string, contentType: string): void {
  const file = path.join(dir, BUCKET, key)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(`${file}._S3rver_object`, body)
  fs.writeFileSync(`${file}._S3rver_object.md5`, crypto.createHash('md5').update(body).digest('hex'))
  fs.writeFileSync(`${file}._S3rver_metadata.json`, JSON.stringify({ 'content-type': contentType }))
}

const client = (endpoint: string, maxSockets: number) =>
  new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials: S3_KEY,
    forcePathStyle: true,
    maxAttempts: 1,
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: { keepAlive: true, maxSockets } },
  })

async function* listKeys(c: S3Client): AsyncGenerator<string> {
  let token: string | undefined
  do {
    const page = await c.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${FOLDER}/`, ContinuationToken: token }))
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.attr.json')) yield o.Key
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
}

/** List, then GET every attr.json at `concurrency`: the reads alone. */
async function bareLoop(s3: S3Server, concurrency: number): Promise<number> {
  const c = client(s3.endpoint, concurrency + 2)
  const keys = listKeys(c)
  let n = 0
  const worker = async () => {
    for (let k = await keys.next(); !k.done; k = await keys.next()) {
      const got = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: k.value }))
      await got.Body!.transformToByteArray()
      n++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  c.destroy()
  return n
}

/** The services' rebuild, reproduced: sequential GETs, a new client per file, a commit every 100 rows. */
async function servicesMethod(s3: S3Server, url: string, sample: number): Promise<number> {
  const lister = client(s3.endpoint, 2)
  const keys: string[] = []
  for await (const k of listKeys(lister)) {
    keys.push(k)
    if (keys.length >= sample) break
  }
  lister.destroy()
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  try {
    await db.query('truncate storage_elem_01_files')
    await db.query('begin')
    let i = 0
    for (const key of keys) {
      const c = client(s3.endpoint, 1)
      const got = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      const d = JSON.parse(await got.Body!.transformToString())
      c.destroy()
      await db.query(
        `insert into storage_elem_01_files (file_id, original_filename, storage_filename, file_size, content_type, created_by_id, created_by_username, storage_path, checksum, metadata_json, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          d.file_id,
          d.original_filename,
          d.storage_filename,
          d.file_size,
          'application/octet-stream',
          'unknown',
          'unknown',
          d.storage_path,
          '',
          d,
          d.created_at,
          d.updated_at,
        ],
      )
      if (++i % 100 === 0) await db.query('commit; begin')
    }
    await db.query('commit')
  } finally {
    await db.end()
  }
  return keys.length
}

async function freshStorageDatabase(serverUrl: string): Promise<string> {
  const url = await recreateDatabase(serverUrl, 'artstore_bench_s3')
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query(fs.readFileSync(path.join(modules['storage-element'].migrationsDir, '0_baseline', 'migration.sql'), 'utf8')).finally(() => c.end())
  return url
}

export async function benchS3(serverUrl: string, files = 10_000, servicesSample = 1_000, concurrency = DEFAULT_S3_CONCURRENCY): Promise<S3BenchResult> {
  const s3 = await startS3('bench')
  const dir = path.join(scratchRoot, 's3-bench')
  try {
    for (const g of generateAttrs({ count: files, seed: 9, perHour: 500 })) {
      const key = `${FOLDER}/${g.doc.storage_path}${g.doc.storage_filename}`
      seedObject(dir, key, `data of ${g.doc.file_id}`, g.doc.content_type)
      seedObject(dir, `${key}.attr.json`, renderBucketAttr(g.doc), 'application/json')
    }
    const url = await freshStorageDatabase(serverUrl)
    const env = { STORAGE_ELEMENT_DATABASE_URL: url, ...s3.env }
    const root = `s3://${BUCKET}/${FOLDER}`

    // One listing first, untimed: whichever ran first would otherwise pay for s3rver's cold store.
    const warm = client(s3.endpoint, 2)
    for await (const _ of listKeys(warm));
    warm.destroy()
    let t = performance.now()
    if ((await bareLoop(s3, concurrency)) !== files) throw new Error('the bare loop did not read every file')
    const bareMs = performance.now() - t

    let peak = process.memoryUsage().rss
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
    t = performance.now()
    const r = await rebuildCache({ module: 'storage-element', root, env, readConcurrency: concurrency }).finally(() => clearInterval(sampler))
    const rebuildMs = performance.now() - t
    if (r.rows.inserted !== files) throw new Error(`the rebuild inserted ${r.rows.inserted} rows of ${files}`)

    t = performance.now()
    const c = await checkCache({ module: 'storage-element', root, env, readConcurrency: concurrency })
    const checkMs = performance.now() - t
    if (c.status !== 'consistent') throw new Error('cache check found the rebuilt cache inconsistent')
    const lister = client(s3.endpoint, 2)
    t = performance.now()
    for await (const _ of listKeys(lister));
    const listMs = performance.now() - t
    lister.destroy()

    t = performance.now()
    const sampled = await servicesMethod(s3, url, Math.min(files, servicesSample))
    const servicesMs = performance.now() - t
    const servicesFilesPerSec = sampled / (servicesMs / 1000)
    const rebuildFilesPerSec = files / (rebuildMs / 1000)
    const round = (x: number) => Math.round(x * 100) / 100
    return {
      files,
      concurrency,
      rebuildMs: Math.round(rebuildMs),
      bareMs: Math.round(bareMs),
      vsBare: round(bareMs / rebuildMs),
      servicesSample: sampled,
      servicesFilesPerSec: Math.round(servicesFilesPerSec),
      rebuildFilesPerSec: Math.round(rebuildFilesPerSec),
      vsServices: round(rebuildFilesPerSec / servicesFilesPerSec),
      checkMs: Math.round(checkMs),
      listMs: Math.round(listMs),
      checkVsList: round(listMs / checkMs),
      peakRssMiB: mib(peak),
    }
  } finally {
    await s3.stop()
    fs.rmSync(dir, { recursive: true, force: true })
    await dropDatabase(serverUrl, 'artstore_bench_s3').catch(() => undefined)
  }
}
