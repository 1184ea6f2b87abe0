import { randomBytes } from 'node:crypto'
import { readCatalog } from '../catalog/read.ts'
import { eachTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { dropDatabase, recreateDatabase } from '../db/scratch.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { readAppliedMigrations } from '../history/history.ts'
import { deployModule } from '../deploy/deploy.ts'
import { rollbackModule } from '../rollback/rollback.ts'
import { verifyModule } from '../verify/verify.ts'

export interface CycleStep {
  name: 'deploy' | 'verify' | 'rollback' | 'nothing left' | 're-deploy' | 're-verify'
  ok: boolean
  ms: number
  detail?: string
}

export interface CycleResult {
  module: string
  /** The scratch database the cycle ran in (masked URL); dropped afterwards. */
  database: string
  ok: boolean
  steps: CycleStep[]
}

/** The module's target moved to a scratch database on the same server, same ?schema= layout. */
function scratchTarget(t: ModuleTarget): { target: ModuleTarget; database: string } {
  // A name of its own per run: two cycles on one server (two CI jobs, a bench beside the tests) must
  // never drop each other's database.
  const database = `artstore_cycle_${t.module.pgSchema}_${randomBytes(4).toString('hex')}`.slice(0, 63)
  const move = (raw: string) => {
    const u = new URL(raw)
    u.pathname = `/${database}`
    return u.toString()
  }
  return { target: { ...t, url: move(t.url), display: move(t.display) }, database }
}

async function leftovers(t: ModuleTarget): Promise<string | undefined> {
  return withClient(t, async (c) => {
    const cat = await readCatalog(c, t.pgSchema)
    const tables = cat.tables.filter((x) => x !== '_prisma_migrations')
    const left = [
      ...tables.map((x) => `table ${x}`),
      ...cat.enums.map((x) => `enum ${x.name}`),
      ...cat.functions.map((x) => `function ${x.name}`),
      ...cat.sequences.map((x) => `sequence ${x.name}`),
      ...cat.triggers.map((x) => `trigger ${x.name}`),
    ]
    const rows = (await readAppliedMigrations(c)).length
    if (rows) left.push(`${rows} history row(s)`)
    return left.length ? left.join(', ') : undefined
  })
}

async function step(steps: CycleStep[], name: CycleStep['name'], fn: () => Promise<string | undefined>): Promise<boolean> {
  const started = performance.now()
  let detail: string | undefined
  let ok = false
  try {
    detail = await fn()
    ok = detail === undefined
  } catch (e) {
    detail = (e as Error).message
  }
  steps.push({ name, ok, ms: Math.round(performance.now() - started), ...(detail ? { detail } : {}) })
  return ok
}

const deployStep = (t: ModuleTarget) => async () => {
  const r = await deployModule(t)
  return r.status === 'failed' ? (r.detail ?? 'failed').split('\n').join(' ') : undefined
}
const verifyStep = (t: ModuleTarget) => async () => {
  const report = await verifyModule(t)
  const failed = report.items.filter((i) => !i.ok)
  return failed.length ? `${failed.length} checks fail: ${failed.slice(0, 3).map((i) => `${i.category} ${i.name}`).join('; ')}` : undefined
}

/**
 * deploy → verify → rollback → nothing left → deploy → verify, on a scratch database of the module's
 * server (created and dropped here), each step timed. Stops at the first failing step.
 */
export async function cycleModule(t: ModuleTarget): Promise<CycleResult> {
  const { target, database } = scratchTarget(t)
  await recreateDatabase(t.url, database)
  const steps: CycleStep[] = []
  try {
    ;(await step(steps, 'deploy', deployStep(target))) &&
      (await step(steps, 'verify', verifyStep(target))) &&
      (await step(steps, 'rollback', async () => void (await rollbackModule(target, { yes: true })))) &&
      (await step(steps, 'nothing left', () => leftovers(target))) &&
      (await step(steps, 're-deploy', deployStep(target))) &&
      (await step(steps, 're-verify', verifyStep(target)))
  } finally {
    await dropDatabase(t.url, database)
  }
  return { module: t.module.name, database: target.display, ok: steps.length === 6 && steps.every((s) => s.ok), steps }
}

/** `cycle`: the up → down → up cycle for each selected module. */
export function cycle(opts: CommandOptions = {}): Promise<CycleResult[]> {
  return withCheckedTargets(opts, async (targets) => {
    return eachTarget(targets, cycleModule)
  })
}
