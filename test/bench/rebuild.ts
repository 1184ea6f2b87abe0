/**
 * The cache rebuild benchmark: N generated attr.json files rebuilt into a fresh storage-element
 * database, next to a raw COPY of the same rows from a prebuilt file into another fresh one, in the
 * same run. Reports files/s, their ratio, and the peak resident memory while rebuilding.
 *
 * Then beside the live service: every row made stale and rebuilt again, once alone and once while
 * the service's writer (service-writer.mjs: two-row transactions across hour folders) runs, with
 * the writer's latencies alone and during that rebuild.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { copyLine } from '../../src/cache/copy.ts'
import { generateAttrs, writeAttrTree } from '../helpers/attr-tree.ts'
import { STORAGE_COLUMNS, storageRow } from '../../src/cache/map.ts'
import { rebuildCache } from '../../src/cache/rebuild.ts'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'
import { modules } from '../../src/modules.ts'
import { percentile, startServiceWriter, type WriterReport } from '../helpers/service-writer.ts'

export interface RebuildBenchResult {
  files: number
  /** Wall time of `rebuildCache` (walk, read, validate, stage, upsert, config, WAL). */
  rebuildMs: number
  rebuildFilesPerSec: number
  /** Wall time of one COPY of the same rows, prebuilt in COPY text format, into the same table. */
  copyMs: number
  copyRowsPerSec: number
  /** rebuildFilesPerSec / copyRowsPerSec (target: at least 0.5). */
  ratio: number
  /** Highest resident set size sampled while the rebuild ran, MiB. */
  peakRssMiB: number
  /** The process's resident high-water mark at the end (generation included), MiB. */
  maxRssMiB: number
  generateMs: number
  skipped: number
  live: LiveRebuildResult
}

export interface Latencies {
  statements: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** A rebuild that rewrites every row, alone and beside the service's writes. */
export interface LiveRebuildResult {
  /** The rebuild with no other session writing. */
  quietMs: number
  /** The same rebuild while the writer runs; failed when it did not finish (its message). */
  liveMs: number
  failed?: string
  /** liveMs / quietMs. */
  ratio: number
  /** The writer's statements with no rebuild running (its baseline), and during the live rebuild. */
  writerAlone: Latencies
  writerDuring: Latencies
  /** writerDuring.maxMs / writerAlone.maxMs, and the same of p99. */
  maxRatio: number
  p99Ratio: number
  writerErrors: number
  writerTransactions: number
}

const mib = (bytes: number) => Math.round(bytes / 1048576)

/** A fresh database with the storage element's baseline applied. */
async function freshStorageDatabase(serverUrl: string, database: string): Promise<string> {
  const url = await recreateDatabase(serverUrl, database)
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    await c.query(fs.readFileSync(path.join(modules['storage-element'].migrationsDir, '0_baseline', 'migration.sql'), 'utf8'))
  } finally {
    await c.end()
  }
  return url
}

/** The same rows, in COPY text format, for the raw COPY baseline; streamed to disk. */
async function writeCopyFile(file: string, count: number, seed: number): Promise<void> {
  await pipeline(
    (function* () {
      for (const g of generateAttrs({ count, seed, perHour: 500 })) {
        const r = storageRow(g.doc)
        if (r.ok) yield copyLine(r.values)
      }
    })(),
    fs.createWriteStream(file),
  )
}

async function rawCopy(url: string, file: string): Promise<number> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    await c.query('checkpoint')
    const t = performance.now()
    await pipeline(fs.createReadStream(file), c.query(copyFrom(`copy storage_elem_01_files (${STORAGE_COLUMNS.join(', ')}) from stdin`)))
    return performance.now() - t
  } finally {
    await c.end()
  }
}

async function checkpoint(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query('checkpoint').finally(() => c.end())
}

const latencies = (r: WriterReport): Latencies => ({
  statements: r.latencies.length,
  p50Ms: Math.round(percentile(r.latencies, 50) * 10) / 10,
  p99Ms: Math.round(percentile(r.latencies, 99) * 10) / 10,
  maxMs: Math.round(Math.max(0, ...r.latencies) * 10) / 10,
})

/**
 * Pairs of file ids for the writer's connections, each a row of the last hour folders (walked last)
 * and one of the first: the order that deadlocks with a rebuild holding what it wrote.
 */
function acrossHours(count: number, seed: number): [string, string][][] {
  const byWalk = [...generateAttrs({ count, seed, perHour: 500 })].sort((a, b) => (a.rel < b.rel ? -1 : 1)).map((g) => g.doc.file_id)
  const n = Math.min(400, Math.floor(byWalk.length / 4))
  const early = byWalk.slice(0, n)
  const late = byWalk.slice(-n)
  return [0, 1].map((k) => early.filter((_, i) => i % 2 === k).map((e, i) => [late[(i * 2 + k) % late.length], e] as [string, string]))
}

async function makeStale(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    await c.query(`update storage_elem_01_files set description = 'stale'`)
    await c.query('vacuum analyze storage_elem_01_files')
    await c.query('checkpoint')
  } finally {
    await c.end()
  }
}

/** Every row stale, rebuilt alone; stale again, rebuilt while the writer runs; the writer alone first. */
async function benchLive(url: string, root: string, files: number, seed: number): Promise<LiveRebuildResult> {
  const env = { STORAGE_ELEMENT_DATABASE_URL: url }
  const pairs = acrossHours(files, seed)
  const writerOptions = { url, table: 'storage_elem_01_files', pairs, thinkMs: 5 }
  const rebuild = () => rebuildCache({ module: 'storage-element', root, env })

  await makeStale(url)
  let t = performance.now()
  await rebuild()
  const quietMs = performance.now() - t

  const alone = await startServiceWriter(writerOptions)
  await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(3000, quietMs / 2))))
  const aloneReport = await alone.stop()

  await makeStale(url)
  const writer = await startServiceWriter(writerOptions)
  t = performance.now()
  const failed = await rebuild().then(
    () => undefined,
    (e: Error) => e.message,
  )
  const liveMs = performance.now() - t
  const during = await writer.stop()
  const a = latencies(aloneReport)
  const d = latencies(during)
  const r2 = (x: number) => Math.round(x * 100) / 100
  return {
    quietMs: Math.round(quietMs),
    liveMs: Math.round(liveMs),
    ...(failed ? { failed } : {}),
    ratio: r2(liveMs / quietMs),
    writerAlone: a,
    writerDuring: d,
    maxRatio: r2(d.maxMs / Math.max(0.1, a.maxMs)),
    p99Ratio: r2(d.p99Ms / Math.max(0.1, a.p99Ms)),
    writerErrors: during.errors.length,
    writerTransactions: during.transactions,
  }
}

/** Generates `files` attr.json files in a temporary folder, rebuilds, COPYs, and cleans up. */
export async function benchRebuild(serverUrl: string, files = 100_000, seed = 1): Promise<RebuildBenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-bench-rebuild-'))
  const root = path.join(dir, 'storage')
  try {
    let t = performance.now()
    await writeAttrTree(root, { count: files, seed, perHour: 500 })
    await writeCopyFile(path.join(dir, 'rows.copy'), files, seed)
    const generateMs = performance.now() - t

    const rebuildUrl = await freshStorageDatabase(serverUrl, 'artstore_bench_rebuild')
    const copyUrl = await freshStorageDatabase(serverUrl, 'artstore_bench_copy')

    await checkpoint(rebuildUrl)
    let peak = process.memoryUsage().rss
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
    t = performance.now()
    const r = await rebuildCache({ module: 'storage-element', root, env: { STORAGE_ELEMENT_DATABASE_URL: rebuildUrl } }).finally(() => clearInterval(sampler))
    const rebuildMs = performance.now() - t
    if (r.rows.inserted !== files) throw new Error(`the rebuild inserted ${r.rows.inserted} rows of ${files}`)

    const copyMs = await rawCopy(copyUrl, path.join(dir, 'rows.copy'))
    const live = await benchLive(rebuildUrl, root, files, seed)
    const rebuildFilesPerSec = files / (rebuildMs / 1000)
    const copyRowsPerSec = files / (copyMs / 1000)
    return {
      files,
      rebuildMs: Math.round(rebuildMs),
      rebuildFilesPerSec: Math.round(rebuildFilesPerSec),
      copyMs: Math.round(copyMs),
      copyRowsPerSec: Math.round(copyRowsPerSec),
      ratio: Math.round((rebuildFilesPerSec / copyRowsPerSec) * 100) / 100,
      peakRssMiB: mib(peak),
      maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      generateMs: Math.round(generateMs),
      skipped: r.files.skipped,
      live,
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    await dropDatabase(serverUrl, 'artstore_bench_rebuild').catch(() => undefined)
    await dropDatabase(serverUrl, 'artstore_bench_copy').catch(() => undefined)
  }
}
