// `cache rebuild` beside the live storage element: the service's two-row transactions across hour
// folders while a rebuild rewrites those rows, a rebuild killed while a service holds a row, and
// --prune in both. Real PostgreSQL; the service's writes come from a process of their own.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { beforeAll, describe, expect, test } from 'vitest'
import { rebuildCache, type CacheRebuildResult } from '../../src/cache/rebuild.ts'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { percentile, startServiceWriter } from '../helpers/service-writer.ts'
import type { GeneratedAttr } from '../helpers/attr-tree.ts'
import { scratchTree, snapshot, staleCache } from './cache-helpers.ts'

const database = freshDatabasesOfThisFile()
const FILES = 'storage_elem_01_files'

/**
 * The README's bound ("Rebuilding the file-metadata caches"): a service statement waits for a rebuild
 * at most one chunk's statement_timeout, 500 ms. The margin is the loaded machine's (a statement that
 * waits for nothing takes milliseconds; one that waits for a rebuild holding its rows to the end of
 * the run waits seconds).
 */
const BOUND_MS = 500
const MARGIN_MS = 1500

async function deployed(name: string): Promise<{ url: string; env: Record<string, string> }> {
  const url = await database(name)
  const env = { STORAGE_ELEMENT_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: copyPrismaDir(`prisma-${name}`, { at: 'baseline' }) }
  const run = await runCli(['deploy', '--module', 'storage-element'], env)
  expect(run.exitCode, run.stderr).toBe(0)
  return { url, env }
}

/** Polls `ok` every 50 ms for at most `ms`; whether it held. */
async function until(ok: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await ok()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return ok()
}

describe('a rebuild beside the service writing two rows per transaction across hour folders', () => {
  const COUNT = 3000
  let url: string
  let env: Record<string, string>
  let tree: Awaited<ReturnType<typeof scratchTree>>

  beforeAll(async () => {
    ;({ url, env } = await deployed('cache_live'))
    tree = await scratchTree('live', { count: COUNT, perHour: 100, seed: 131, s3Share: 0 })
    expect((await rebuildCache({ module: 'storage-element', root: tree.root, env })).rows.inserted).toBe(COUNT)
  })

  test('10 runs, each rewriting every row and pruning: no deadlock, no failed statement, no service statement waits past the bound', async () => {
    const runs = await besideTheService({
      url,
      table: FILES,
      key: 'file_id',
      files: tree.files,
      root: tree.root,
      runs: 10,
      rebuild: () => rebuildCache({ module: 'storage-element', root: tree.root, env, prune: true, batchFiles: 500 }),
    })
    expectWithinBound(runs, COUNT)
    expect(await query(url, `select status, count(*)::int as n from storage_elem_01_wal group by status`)).toEqual([{ status: 'committed', n: 11 }])
  }, 900_000)
})

describe("the query module's rebuild beside the query service writing two rows per transaction", () => {
  test('5 runs, each rewriting every row of the element and pruning: no deadlock, no failed statement, no wait past the bound; the other element untouched', async () => {
    const count = 3000
    const url = await database('cache_live_query')
    const env = { QUERY_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: copyPrismaDir('prisma-cache_live_query', { at: 'baseline' }) }
    const deploy = await runCli(['deploy', '--module', 'query'], env)
    expect(deploy.exitCode, deploy.stderr).toBe(0)
    const tree = await scratchTree('live-query', { count, perHour: 100, seed: 139, s3Share: 0 })
    const rebuild = (prune = false) =>
      rebuildCache({ module: 'query', root: tree.root, storageElementId: 'se-01', storageElementUrl: 'http://se-01:8010', env, prune, batchFiles: 500 })
    expect((await rebuild()).rows.inserted).toBe(count)
    await query(
      url,
      `insert into file_metadata_cache (id, filename, storage_filename, file_size, mime_type, sha256_hash, username, tags, description, created_at, updated_at, storage_element_id, storage_element_url)
       select gen_random_uuid()::text, 'other.txt', 'other-' || g, 1, 'text/plain', md5(g::text) || md5(g::text), 'u', '{}', 'the other element', now(), now(), 'se-02', 'http://se-02:8010' from generate_series(1, 50) g`,
    )
    const other = await snapshot(url, 'file_metadata_cache', 'id', "storage_element_id = 'se-02'")
    const runs = await besideTheService({
      url,
      table: 'file_metadata_cache',
      key: 'id',
      files: tree.files,
      root: tree.root,
      runs: 5,
      where: "storage_element_id = 'se-01'",
      rebuild: () => rebuild(true),
    })
    expectWithinBound(runs, count)
    expect(await snapshot(url, 'file_metadata_cache', 'id', "storage_element_id = 'se-02'")).toEqual(other)
  }, 900_000)
})

interface Run {
  run: number
  error?: string
  rows?: unknown
  writerErrors: string[]
  maxMs: number
  p99Ms: number
  statements: number
}

/**
 * `runs` rebuilds, each after every row (of `where`) was made stale and 5 more files deleted, while
 * the service's writer runs two-row transactions: a row of the last hour folders (walked last), then
 * one of the first, the order that deadlocks with a run holding what it wrote.
 */
async function besideTheService(o: {
  url: string
  table: string
  key: string
  files: GeneratedAttr[]
  root: string
  runs: number
  where?: string
  rebuild: () => Promise<CacheRebuildResult>
}): Promise<Run[]> {
  const byWalk = [...o.files].sort((a, b) => (a.rel < b.rel ? -1 : 1))
  const early = byWalk.slice(0, 400).map((g) => g.doc.file_id)
  const late = byWalk.slice(-400).map((g) => g.doc.file_id)
  const pairs: [string, string][][] = [0, 1].map((k) =>
    early.filter((_, i) => i % 2 === k).map((e, i) => [late[(i * 2 + k) % late.length], e] as [string, string]),
  )
  const removed = byWalk.slice(1000, 1000 + 5 * o.runs)
  const runs: Run[] = []
  for (let run = 1; run <= o.runs; run++) {
    await query(o.url, `update ${o.table} set description = $1 where ${o.where ?? 'true'}`, [`stale ${run}`])
    for (const g of removed.slice((run - 1) * 5, run * 5)) fs.rmSync(path.join(o.root, g.rel))
    const writer = await startServiceWriter({ url: o.url, table: o.table, key: o.key, pairs, thinkMs: 5 })
    const result = await o.rebuild().catch((e: Error) => e)
    const report = await writer.stop()
    runs.push({
      run,
      ...(result instanceof Error ? { error: result.message } : { rows: result.rows }),
      writerErrors: report.errors.map((e) => `${e.code}: ${e.message}`),
      maxMs: Math.round(Math.max(...report.latencies)),
      p99Ms: Math.round(percentile(report.latencies, 99)),
      statements: report.latencies.length,
    })
  }
  const described = await query<{ n: number; stale: number }>(
    o.url,
    `select count(*)::int as n, count(*) filter (where description like 'stale %')::int as stale from ${o.table} where ${o.where ?? 'true'}`,
  )
  runs.push({ run: 0, rows: described[0], writerErrors: [], maxMs: 0, p99Ms: 0, statements: 1 })
  return runs
}

/** No rebuild failed, no service statement failed or waited past the bound, every run rewrote every row and pruned its 5, and the rows are as their files say. */
function expectWithinBound(all: Run[], count: number): void {
  const runs = all.filter((r) => r.run > 0)
  const summary = {
    failedRebuilds: runs.filter((r) => r.error).length,
    writerErrors: runs.reduce((n, r) => n + r.writerErrors.length, 0),
    maxWaitMs: Math.max(...runs.map((r) => r.maxMs)),
  }
  const detail = JSON.stringify(runs.map((r) => ({ ...r, writerErrors: r.writerErrors.slice(0, 2) })))
  console.info(`cache-live: ${JSON.stringify(summary)}`)
  expect(runs.every((r) => r.statements > 0)).toBe(true)
  expect({ failedRebuilds: summary.failedRebuilds, writerErrors: summary.writerErrors }, detail).toEqual({ failedRebuilds: 0, writerErrors: 0 })
  expect(summary.maxWaitMs, detail).toBeLessThanOrEqual(BOUND_MS + MARGIN_MS)
  for (const r of runs) expect(r.rows, `run ${r.run}`).toEqual({ inserted: 0, updated: count - r.run * 5, unchanged: 0, pruned: 5 })
  // The last run rewrote every row; the removed files' rows are gone.
  expect(all.at(-1)!.rows).toEqual({ n: count - runs.length * 5, stale: 0 })
}

describe('a rebuild killed while a service holds a row it has to rewrite', () => {
  test('the chunks before that row are written and final, the rest as before, nothing pruned, the config untouched; the next run finishes the job', async () => {
    const { url, env } = await deployed('cache_live_kill')
    const count = 3000
    // Files deleted since: --prune is to delete their rows, but only once the run has finished. The held row is one the run has to rewrite.
    const { tree, final, before, config, gone, held } = await staleCache(url, env, 'live-kill', { count, perHour: 100, seed: 137, goneEvery: 300, goneAt: 7 })

    const service = new pg.Client({ connectionString: url, application_name: 'storage-element service' })
    service.on('error', () => undefined)
    await service.connect()
    await service.query('begin')
    await service.query(`select 1 from ${FILES} where file_id = $1 for update`, [held])
    const child = spawn(
      process.execPath,
      [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'cache', 'rebuild', '--module', 'storage-element', '--root', tree.root, '--prune'],
      {
        cwd: projectRoot,
        env: { ...process.env, DATABASE_URL: '', ADMIN_DATABASE_URL: '', QUERY_DATABASE_URL: '', ARTSTORE_DOTENV: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.on('close', r))
    let ended = false
    void exited.then(() => (ended = true))
    const rewritten = async () => (await query<{ n: number }>(url, `select count(*)::int as n from ${FILES} where description <> 'stale'`))[0].n
    try {
      // The run writes what comes before the held row, and waits for that row by giving way and trying again.
      const progressed = await until(async () => ended || (await rewritten()) > 0, 60_000)
      expect({ progressed, ended, stderr }).toEqual({ progressed: true, ended: false, stderr: '' })
      // Let it go on as far as it can (a slow chunk is tried again with fewer rows, up to the held one).
      await new Promise((r) => setTimeout(r, 2000))
      expect(ended).toBe(false)
    } finally {
      child.kill('SIGKILL')
      await exited
      // The server notices a vanished client only when it next writes to it: a try in flight could still
      // get the held row once it is let go, and commit. End the orphaned backend first, as the server
      // would once it noticed (either way its rows are final: the key order is what this pins).
      const orphans = `select pid from pg_stat_activity where datname = current_database() and application_name = 'artstore-db' and pid <> pg_backend_pid()`
      await query(url, `select pg_terminate_backend(pid) from (${orphans}) o`)
      const gone = await until(async () => !(await query(url, orphans)).length, 30_000)
      await service.query('rollback')
      await service.end()
      expect(gone).toBe(true)
    }

    const after = await snapshot(url, FILES, 'file_id')
    expect(after).toHaveLength(count) // nothing pruned
    const finalKeys = after.filter((r) => r.description !== 'stale').map((r) => r.file_id as string)
    for (const r of after) expect(r, `row ${r.file_id}`).toEqual(r.description === 'stale' ? before.get(r.file_id as string) : final.get(r.file_id as string))
    // Chunks go in key order: every row written comes before the held one, which was not.
    expect(finalKeys.length).toBeGreaterThan(0)
    expect(finalKeys.every((k) => k < held)).toBe(true)
    expect(await query(url, 'select * from storage_elem_01_config')).toEqual(config)
    expect((await query(url, `select status from storage_elem_01_wal order by started_at desc limit 1`))[0]).toEqual({ status: 'pending' })

    const again = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', tree.root, '--prune', '--json'], env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).rows).toEqual({
      inserted: 0,
      updated: count - gone.length - finalKeys.length,
      unchanged: finalKeys.length,
      pruned: gone.length,
    })
    const goneIds = new Set(gone.map((g) => g.doc.file_id))
    expect(await snapshot(url, FILES, 'file_id')).toEqual([...final.values()].filter((r) => !goneIds.has(r.file_id as string)))
    const log = await query<{ status: string; error_message: string | null }>(
      url,
      `select status, error_message from storage_elem_01_wal order by started_at desc limit 2`,
    )
    expect(log.map((l) => l.status)).toEqual(['committed', 'failed'])
    expect(log[1].error_message).toMatch(/^interrupted: .*the rows it had written stay as their files say, nothing was pruned$/)
  }, 300_000)
})
