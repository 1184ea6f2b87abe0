/**
 * The cache rebuild benchmark: N generated attr.json files rebuilt into a fresh storage-element
 * database, next to a raw COPY of the same rows from a prebuilt file into another fresh one, in the
 * same run. Reports files/s, their ratio, and the peak resident memory while rebuilding.
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
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    await dropDatabase(serverUrl, 'artstore_bench_rebuild').catch(() => undefined)
    await dropDatabase(serverUrl, 'artstore_bench_copy').catch(() => undefined)
  }
}
