/**
 * The fleet benchmark: `deploy --instances` of 20 storage-element instances in one database (the
 * shared layout), fresh and with nothing pending, against the same command for one instance, in the
 * same run, as child processes (what an operator runs).
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { dropDatabase, recreateDatabase } from '../../src/db/scratch.ts'
import { projectRoot } from '../../src/modules.ts'

export interface FleetBench {
  instances: number
  runs: number
  /** Median wall time, ms. */
  oneFreshMs: number
  manyFreshMs: number
  oneNoopMs: number
  manyNoopMs: number
  /** manyNoopMs / oneNoopMs (target: at most 3). */
  noopRatio: number
  freshRatio: number
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function deploy(file: string, url: string): number {
  const started = performance.now()
  const r = spawnSync(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'deploy', '--instances', file, '--concurrency', '4'], {
    env: { ...process.env, ARTSTORE_DOTENV: '0', BENCH_FLEET_URL: url },
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`deploy --instances failed: ${r.stdout}${r.stderr}`)
  return performance.now() - started
}

export async function benchFleet(serverUrl: string, instances = 20, runs = 3): Promise<FleetBench> {
  const url = await recreateDatabase(serverUrl, 'artstore_bench_fleet')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-fleet-'))
  const write = (name: string, prefixes: string[]) => {
    const f = path.join(dir, `${name}.json`)
    fs.writeFileSync(f, JSON.stringify({ layout: 'shared', instances: prefixes.map((p) => ({ name: p, urlEnv: 'BENCH_FLEET_URL', prefix: p })) }))
    return f
  }
  try {
    const many = Array.from({ length: instances }, (_, i) => `fleet_${String(i + 1).padStart(2, '0')}`)
    const oneFresh: number[] = []
    for (let r = 0; r < runs; r++) oneFresh.push(deploy(write(`one-${r}`, [`single_${r}`]), url))
    const manyFreshMs = deploy(write('many', many), url)
    const oneNoop: number[] = []
    const manyNoop: number[] = []
    for (let r = 0; r < runs; r++) {
      oneNoop.push(deploy(write('one-0', ['single_0']), url))
      manyNoop.push(deploy(write('many', many), url))
    }
    const b = { oneFreshMs: median(oneFresh), manyFreshMs, oneNoopMs: median(oneNoop), manyNoopMs: median(manyNoop) }
    return {
      instances,
      runs,
      ...Object.fromEntries(Object.entries(b).map(([k, v]) => [k, Math.round(v)])),
      noopRatio: Math.round((b.manyNoopMs / b.oneNoopMs) * 100) / 100,
      freshRatio: Math.round((b.manyFreshMs / b.oneFreshMs) * 100) / 100,
    } as FleetBench
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    await dropDatabase(serverUrl, 'artstore_bench_fleet')
  }
}
