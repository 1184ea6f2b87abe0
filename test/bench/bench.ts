import { spawnSync } from 'node:child_process'
import { modules } from '../../src/modules.ts'
import { bridgeExecutable, runPrisma } from '../../src/prisma/run.ts'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'

export interface BenchRow {
  name: string
  /** Median wall time of the runs, in milliseconds. */
  medianMs: number
  runs: number
  /** medianMs divided by the baseline's median, measured in the same run. */
  ratio: number
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function time(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await fn()
    samples.push(performance.now() - t)
  }
  return median(samples)
}

/**
 * Wall time of the Prisma CLI through the offline bridge. The baseline is the CLI's own start-up
 * (`prisma --help`, which needs no engine), so each ratio is the cost the engine work adds.
 */
export async function benchBridge(serverUrl: string, runs = 5): Promise<BenchRow[]> {
  const admin = modules.admin
  const url = await recreateDatabase(serverUrl, 'artstore_bench')
  const env = { ADMIN_DATABASE_URL: url }
  const cases: [string, () => Promise<unknown> | unknown][] = [
    ['prisma --help (baseline: CLI start-up, no engine)', () => runPrisma(['--help'])],
    ['bridge --version (engine process alone)', () => spawnSync(bridgeExecutable, ['--version'])],
    ['prisma --version', () => runPrisma(['--version'])],
    [
      'prisma migrate diff --from-empty --to-schema --script',
      () => runPrisma(['migrate', 'diff', '--from-empty', '--to-schema', admin.schemaFile, '--script'], { configFile: admin.configFile, env }),
    ],
    [
      'prisma migrate deploy (admin baseline, fresh database)',
      async () => {
        await recreateDatabase(serverUrl, 'artstore_bench')
        const run = await runPrisma(['migrate', 'deploy'], { configFile: admin.configFile, env })
        if (run.exitCode !== 0) throw new Error(`migrate deploy failed: ${run.stderr}`)
      },
    ],
  ]
  const rows: BenchRow[] = []
  for (const [name, fn] of cases) {
    await fn() // warm the file cache and the transpile cache
    const medianMs = await time(runs, fn)
    rows.push({ name, medianMs: Math.round(medianMs), runs, ratio: rows.length ? medianMs / rows[0].medianMs : 1 })
  }
  await dropDatabase(serverUrl, 'artstore_bench')
  return rows
}
