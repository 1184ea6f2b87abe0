/**
 * `npm run bench -- --only s3`: a storage-element rebuild from the bucket (s3rver, started here, as the
 * tests start it) against, in the same run,
 * - a bare SDK loop that lists the same keys and GETs the same objects at the same concurrency (the
 *   issue's baseline), and a bare loop of the rebuild's own signed GETs (s3-get.ts): the reads alone;
 * - the server's own ceiling: unsigned GETs from a trivial node:http client at the same concurrency;
 * - the services' own method (cache_rebuild_service.py, legacy-schema.md §9.5): one listing, then
 *   sequential GETs with a new client for every file, an INSERT per row and a commit every 100 rows; it
 *   is timed on a sample of the files (`--services-sample`, default 1 000) and compared as files/s;
 * - `cache check` against a bare listing of the same keys.
 * The rebuild and the check run in a process of their own (the built library), which gives their peak
 * RSS. N attr.json objects (`--files`, default 10 000), each with its data object, are seeded straight
 * into s3rver's store folder (uploading them through HTTP would take longer than the bench).
 * `--s3-workers N` runs s3rver in N processes on one port and store (default: one per core, DEFAULT_S3_WORKERS).
 */
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import pg from 'pg'
import type { CacheCheckResult } from '../../src/cache/check.ts'
import type { CacheRebuildResult } from '../../src/cache/result.ts'
import { encodePath, SignedGetter } from '../../src/cache/s3-get.ts'
import { DEFAULT_S3_CONCURRENCY } from '../../src/cache/source-s3.ts'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'
import { modules, projectRoot } from '../../src/modules.ts'
import { generateAttrs } from '../helpers/attr-tree.ts'
import { renderBucketAttr, S3_KEY, startS3, type S3Server } from '../helpers/s3.ts'
import { scratchRoot } from '../helpers/workdir.ts'

const BUCKET = 'artstore-files'
const FOLDER = 'storage_element_01'
/**
 * s3rver processes by default: one per core (at most 8), as MinIO answers on every core of its host.
 * One s3rver process is one core: a rebuild's GETs in flight keep it 100 % busy (about 1.3 ms of its
 * CPU a file, listing included, so at most about 750 files/s here), while the services' sequential
 * method never fills it; `--s3-workers 1` measures that single core.
 */
export const DEFAULT_S3_WORKERS = Math.min(8, os.availableParallelism())

/** Keys GET by the trivial client that measures the server's ceiling. */
const CEILING_SAMPLE = 5_000

export interface S3BenchResult {
  files: number
  concurrency: number
  s3Workers: number
  rebuildMs: number
  bareMs: number
  /** bareMs / rebuildMs (goal ≥ 0.8). */
  vsBare: number
  bareSignedMs: number
  /** bareSignedMs / rebuildMs: the reads alone, the rebuild's own way, over the whole rebuild. */
  vsBareSigned: number
  /** Unsigned GETs a second from a trivial client at the same concurrency: what s3rver can serve. */
  serverGetsPerSec: number
  servicesSample: number
  servicesFilesPerSec: number
  rebuildFilesPerSec: number
  /** rebuild files/s over the services' files/s (goal ≥ 5). */
  vsServices: number
  checkMs: number
  listMs: number
  /** listMs / checkMs. */
  checkVsList: number
  /** When each phase of the rebuild began (read, resolve, write, done), ms from its start: where its time goes. */
  rebuildPhasesMs: Record<string, number>
  /** Peak RSS of the rebuild's process, and of the check's. */
  peakRssMiB: number
  checkPeakRssMiB: number
  /** CPU per file, in ms: the rebuild's process, s3rver while it ran; the services' method (this process), s3rver while it ran. */
  cpuMsPerFile: { rebuild: number; rebuildServer: number; services: number; servicesServer: number }
}

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

/** A pool of `concurrency` workers over `keys`, each doing `one` per key. */
async function pool(keys: AsyncIterator<string> | Iterator<string>, concurrency: number, one: (key: string) => Promise<void>): Promise<number> {
  let n = 0
  const worker = async () => {
    for (let k = await keys.next(); !k.done; k = await keys.next()) {
      await one(k.value)
      n++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return n
}

/** List, then GET every attr.json at `concurrency` with the SDK: the reads alone, the plain SDK way. */
async function bareLoop(s3: S3Server, concurrency: number): Promise<number> {
  const c = client(s3.endpoint, concurrency + 2)
  const n = await pool(listKeys(c), concurrency, async (key) => {
    const got = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    await got.Body!.transformToByteArray()
  })
  c.destroy()
  return n
}

/** The same with the rebuild's own signed GETs (the listing with the SDK, as the rebuild lists). */
async function bareSignedLoop(s3: S3Server, concurrency: number): Promise<number> {
  const c = client(s3.endpoint, 2)
  const g = new SignedGetter({ endpoint: s3.endpoint, region: 'us-east-1', ...S3_KEY }, concurrency)
  const n = await pool(listKeys(c), concurrency, async (key) => {
    if (!Buffer.isBuffer(await g.get(BUCKET, key, 1 << 20))) throw new Error(`${key} read as too large`)
  })
  g.destroy()
  c.destroy()
  return n
}

/** GETs a second that s3rver serves to a trivial client (unsigned, nothing parsed) at `concurrency`. */
async function serverCeiling(s3: S3Server, keys: readonly string[], concurrency: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const get = (key: string) =>
    new Promise<void>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: s3.port, path: `/${BUCKET}/${encodePath(key)}`, agent }, (r) => {
          if (r.statusCode !== 200) reject(new Error(`s3rver answered ${r.statusCode} to an unsigned GET of ${key}`))
          r.resume().on('end', resolve)
        })
        .on('error', reject),
    )
  const t = performance.now()
  const n = await pool(keys.values(), concurrency, get)
  agent.destroy()
  return n / ((performance.now() - t) / 1000)
}

/** Runs a rebuild or a check in a process of its own (s3-child.mjs): its duration, result and peak RSS. */
function inChild<R>(
  op: 'rebuild' | 'check',
  options: object,
): Promise<{ ms: number; phases: Record<string, number>; result: R; maxRssMiB: number; cpuSeconds: number }> {
  const child = spawn(process.execPath, [path.join(projectRoot, 'test', 'bench', 's3-child.mjs'), JSON.stringify({ op, options })], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the ${op} process exited ${code}: ${err.trim()}`)))),
  )
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

async function truncateFiles(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query('truncate storage_elem_01_files').finally(() => c.end())
}

async function freshStorageDatabase(serverUrl: string): Promise<string> {
  const url = await recreateDatabase(serverUrl, 'artstore_bench_s3')
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query(fs.readFileSync(path.join(modules['storage-element'].migrationsDir, '0_baseline', 'migration.sql'), 'utf8')).finally(() => c.end())
  return url
}

export async function benchS3(
  serverUrl: string,
  files = 10_000,
  servicesSample = 1_000,
  concurrency = DEFAULT_S3_CONCURRENCY,
  s3Workers = DEFAULT_S3_WORKERS,
): Promise<S3BenchResult> {
  // The rebuild and the check run from the built library.
  const built = spawnSync(process.execPath, [path.join(projectRoot, 'scripts', 'build.mjs'), '--quiet', '--if-stale'], { cwd: projectRoot, encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`the build failed: ${built.stderr}`)
  const s3 = await startS3('bench', { workers: s3Workers })
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
    const sample: string[] = []
    for await (const k of listKeys(warm)) if (sample.length < CEILING_SAMPLE) sample.push(k)
    warm.destroy()
    // The machine's load drifts during a run: what is compared is measured on both sides of the
    // rebuild (the server's ceiling, the services' method in two halves) or next to it (the bare loops).
    const ceiling = [await serverCeiling(s3, sample, concurrency)]
    const half = Math.ceil(Math.min(files, servicesSample) / 2)
    const services = { files: 0, ms: 0, cpu: 0, server: 0 }
    // Each half is a run of its own over the same first keys: the services' rebuild truncates first.
    const runServices = async () => {
      const t0 = performance.now()
      const [c0, s0] = [process.cpuUsage(), s3.cpuSeconds()]
      services.files += await servicesMethod(s3, url, half)
      services.ms += performance.now() - t0
      const c = process.cpuUsage(c0)
      services.cpu += (c.user + c.system) / 1e6
      services.server += s3.cpuSeconds() - s0
    }
    await runServices()
    await truncateFiles(url)

    let t = performance.now()
    if ((await bareLoop(s3, concurrency)) !== files) throw new Error('the bare loop did not read every file')
    const bareMs = performance.now() - t
    const s0 = s3.cpuSeconds()
    const rebuild = await inChild<CacheRebuildResult>('rebuild', { module: 'storage-element', root, env, readConcurrency: concurrency })
    const rebuildServer = s3.cpuSeconds() - s0
    if (rebuild.result.rows.inserted !== files) throw new Error(`the rebuild inserted ${rebuild.result.rows.inserted} rows of ${files}`)
    t = performance.now()
    if ((await bareSignedLoop(s3, concurrency)) !== files) throw new Error('the bare signed loop did not read every file')
    const bareSignedMs = performance.now() - t

    const check = await inChild<CacheCheckResult>('check', { module: 'storage-element', root, env, readConcurrency: concurrency })
    if (check.result.status !== 'consistent') throw new Error('cache check found the rebuilt cache inconsistent')
    const lister = client(s3.endpoint, 2)
    t = performance.now()
    for await (const _ of listKeys(lister));
    const listMs = performance.now() - t
    lister.destroy()

    await runServices()
    ceiling.push(await serverCeiling(s3, sample, concurrency))
    const serverGetsPerSec = Math.max(...ceiling)
    const sampled = services.files
    const servicesFilesPerSec = sampled / (services.ms / 1000)
    const rebuildFilesPerSec = files / (rebuild.ms / 1000)
    const round = (x: number) => Math.round(x * 100) / 100
    return {
      files,
      concurrency,
      s3Workers,
      rebuildMs: Math.round(rebuild.ms),
      bareMs: Math.round(bareMs),
      vsBare: round(bareMs / rebuild.ms),
      bareSignedMs: Math.round(bareSignedMs),
      vsBareSigned: round(bareSignedMs / rebuild.ms),
      serverGetsPerSec: Math.round(serverGetsPerSec),
      servicesSample: sampled,
      servicesFilesPerSec: Math.round(servicesFilesPerSec),
      rebuildFilesPerSec: Math.round(rebuildFilesPerSec),
      vsServices: round(rebuildFilesPerSec / servicesFilesPerSec),
      checkMs: Math.round(check.ms),
      listMs: Math.round(listMs),
      checkVsList: round(listMs / check.ms),
      rebuildPhasesMs: rebuild.phases,
      peakRssMiB: rebuild.maxRssMiB,
      checkPeakRssMiB: check.maxRssMiB,
      cpuMsPerFile: {
        rebuild: round((rebuild.cpuSeconds * 1000) / files),
        rebuildServer: round((rebuildServer * 1000) / files),
        services: round((services.cpu * 1000) / sampled),
        servicesServer: round((services.server * 1000) / sampled),
      },
    }
  } finally {
    await s3.stop()
    fs.rmSync(dir, { recursive: true, force: true })
    await dropDatabase(serverUrl, 'artstore_bench_s3').catch(() => undefined)
  }
}
