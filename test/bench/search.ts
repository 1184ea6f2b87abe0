/**
 * The query module's searches at scale: N realistic rows (see search-data.ts) in a fresh database at
 * 0_baseline, each search shape the service sends timed (p50/p95 over warm runs) with the EXPLAIN
 * plan's top nodes; then the migrations after the baseline (the trigram indexes) applied as deploy
 * applies them, and the same again. The baseline of every ratio is the full-text page, measured in
 * the same phase.
 */
import pg from 'pg'
import { BASELINE_NAME } from '../../src/baseline/baseline.ts'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'
import { readMigrationFolders } from '../../src/history/history.ts'
import { modules } from '../../src/modules.ts'
import { insertSearchRows, searchShapes } from './search-data.ts'

export interface ShapeTiming {
  name: string
  p50Ms: number
  p95Ms: number
  /** The plan's nodes from the top down to the first scan, e.g. `Limit → Sort → Bitmap Heap Scan → BitmapOr`. */
  plan: string
  rows: number
}

export interface SearchBench {
  rows: number
  runs: number
  loadMs: number
  /** Time to apply the migrations after the baseline (the index builds) on the loaded table. */
  migrateMs: number
  migrations: string[]
  before: ShapeTiming[]
  after: ShapeTiming[]
}

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Relation Name'?: string
  Plans?: PlanNode[]
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}
const round = (ms: number) => Math.round(ms * 10) / 10

/** The plan from the top down, as far as the first node that reads the table or an index (both arms of a BitmapOr). */
function planPath(node: PlanNode): string {
  const label = (n: PlanNode) => (n['Index Name'] ? `${n['Node Type']} on ${n['Index Name']}` : n['Node Type'])
  if (/Scan/.test(node['Node Type']) && node['Node Type'] !== 'Bitmap Heap Scan') return label(node)
  const children = node.Plans ?? []
  if (node['Node Type'] === 'BitmapOr' || node['Node Type'] === 'BitmapAnd') return `${label(node)}(${children.map(planPath).join(', ')})`
  return children.length ? `${label(node)} → ${planPath(children[0])}` : label(node)
}

async function timeShapes(c: pg.Client, runs: number): Promise<ShapeTiming[]> {
  const out: ShapeTiming[] = []
  for (const shape of searchShapes) {
    const params = [shape.param]
    const { rows: explained } = await c.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`explain (format json) ${shape.sql}`, params)
    let rows = 0
    for (let i = 0; i < 2; i++) await c.query(shape.sql, params) // warm the cache
    const samples: number[] = []
    // A slow shape (a scan of a million rows) stops after 15 s of samples, with at least 5 of them.
    const started = performance.now()
    for (let i = 0; i < runs && (i < 5 || performance.now() - started < 15_000); i++) {
      const t = performance.now()
      rows = (await c.query(shape.sql, params)).rowCount ?? 0
      samples.push(performance.now() - t)
    }
    out.push({
      name: shape.name,
      p50Ms: round(percentile(samples, 50)),
      p95Ms: round(percentile(samples, 95)),
      plan: planPath(explained[0]['QUERY PLAN'][0].Plan),
      rows,
    })
  }
  return out
}

export async function benchSearch(serverUrl: string, rows = 1_000_000, runs = 20): Promise<SearchBench> {
  const url = await recreateDatabase(serverUrl, 'artstore_bench_search')
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const history = readMigrationFolders(modules.query.migrationsDir)
    await c.query(history.find((m) => m.name === BASELINE_NAME)!.up)
    let t = performance.now()
    const batch = 100_000
    for (let offset = 0; offset < rows; offset += batch) await c.query(insertSearchRows(Math.min(batch, rows - offset), offset))
    await c.query('vacuum analyze file_metadata_cache')
    const loadMs = Math.round(performance.now() - t)
    const before = await timeShapes(c, runs)

    // The later migrations as deploy runs them: each migration.sql as one query (CONCURRENTLY alone).
    const later = history.filter((m) => m.name !== BASELINE_NAME)
    t = performance.now()
    for (const m of later) await c.query(m.up)
    const migrateMs = Math.round(performance.now() - t)
    await c.query('vacuum analyze file_metadata_cache')
    const after = await timeShapes(c, runs)
    return { rows, runs, loadMs, migrateMs, migrations: later.map((m) => m.name), before, after }
  } finally {
    await c.end()
    await dropDatabase(serverUrl, 'artstore_bench_search')
  }
}
