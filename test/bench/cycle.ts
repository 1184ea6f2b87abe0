import pg from 'pg'
import { readCommittedBaseline } from '../../src/baseline/baseline.ts'
import { maskUrl, resolveModuleUrl } from '../../src/config/urls.ts'
import { cycleModule, type CycleResult } from '../../src/cycle/cycle.ts'
import { quoteIdent } from '../../src/db/pg-config.ts'
import { moduleNames, modules } from '../../src/modules.ts'
import { withScratchDatabase } from '../../src/db/scratch.ts'

export interface CycleBenchRow {
  module: string
  /** Wall time of the whole cycle (two deploys, two verifies, rollback, leftover check). */
  cycleMs: number
  steps: CycleResult['steps']
  /** The same baseline applied once with a plain pg client into a fresh database: the baseline. */
  rawApplyMs: number
  ratio: number
}

/** Applies the baseline with a plain pg client into a fresh database; returns the time of the apply alone. */
function rawApply(serverUrl: string, schema: string, sql: string): Promise<number> {
  return withScratchDatabase(serverUrl, 'artstore_bench_raw', async (url) => {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      const started = performance.now()
      await c.query(`create schema ${quoteIdent(schema)}; set search_path = ${quoteIdent(schema)};`)
      await c.query(sql)
      return performance.now() - started
    } finally {
      await c.end()
    }
  })
}

/** The up → down → up cycle of each module, next to a raw application of the same baseline SQL. */
export async function benchCycle(serverUrl: string): Promise<CycleBenchRow[]> {
  const rows: CycleBenchRow[] = []
  for (const name of moduleNames) {
    const module = modules[name]
    const resolved = resolveModuleUrl(module, { DATABASE_URL: serverUrl })!
    const started = performance.now()
    const result = await cycleModule({ module, ...resolved, display: maskUrl(resolved.url) })
    const cycleMs = performance.now() - started
    if (!result.ok) throw new Error(`the ${name} cycle failed: ${result.steps.find((s) => !s.ok)?.detail}`)
    const rawApplyMs = await rawApply(serverUrl, module.pgSchema, readCommittedBaseline(module).up!)
    rows.push({ module: name, cycleMs: Math.round(cycleMs), steps: result.steps, rawApplyMs: Math.round(rawApplyMs * 10) / 10, ratio: cycleMs / rawApplyMs })
  }
  return rows
}
