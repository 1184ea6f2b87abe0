import { readCatalog } from '../catalog/read.ts'
import { eachTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import { claimScratchDatabase, scratchServer, type ScratchDatabase } from '../db/scratch.ts'
import { HISTORY_PARAM, maskUrl } from '../config/urls.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { readAppliedMigrations, readMigrationFolders } from '../history/history.ts'
import { compareCatalogs } from '../catalog/compare.ts'
import { BASELINE_NAME } from '../baseline/baseline.ts'
import { expectedCatalog } from '../verify/expected.ts'
import { deployModule } from '../deploy/deploy.ts'
import { rollbackFailureLine, rollbackModule } from '../rollback/rollback.ts'
import { verifyModule } from '../verify/verify.ts'

export interface CycleStep {
  /** deploy, verify, `step back <migration>` (each later migration, newest first), rollback, nothing left, re-deploy, re-verify. */
  name: string
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

/** The server part of a URL (user, host, port): targets on one server share one scratch database. */
const serverOf = (url: string) => {
  const u = new URL(url)
  return `${u.username}@${u.host}`
}

/**
 * Runs `fn` with every target moved to a scratch database on the scratch server (ARTSTORE_SCRATCH_URL,
 * else its own; one per server, of a name no other run uses, so that two cycles never drop each
 * other's), each module in its own PostgreSQL schema there. The databases are created here and
 * dropped on every path (and by an interrupt).
 */
async function withScratchTargets<T>(targets: readonly ModuleTarget[], fn: (scratch: ModuleTarget[]) => Promise<T>): Promise<T> {
  const servers = new Map<string, string>()
  for (const t of targets) servers.set(serverOf(scratchServer(t.url)), scratchServer(t.url))
  const claimed = new Map<string, ScratchDatabase>()
  try {
    for (const [server, url] of servers) claimed.set(server, await claimScratchDatabase(url, 'cycle'))
    const move = (t: ModuleTarget) => {
      const u = new URL(claimed.get(serverOf(scratchServer(t.url)))!.url)
      u.searchParams.set('schema', t.module.pgSchema)
      const history = new URL(t.url).searchParams.get(HISTORY_PARAM)
      if (history) u.searchParams.set(HISTORY_PARAM, history)
      return u.toString()
    }
    return await fn(targets.map((t) => ({ ...t, url: move(t), display: maskUrl(move(t)), pgSchema: t.module.pgSchema })))
  } finally {
    await Promise.all([...claimed.values()].map((d) => d.release()))
  }
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
  return r.status === 'failed' || r.status === 'refused' ? (r.detail ?? 'failed').split('\n').join(' ') : undefined
}
const verifyStep = (t: ModuleTarget) => async () => {
  const report = await verifyModule(t)
  const failed = report.items.filter((i) => !i.ok)
  const first = failed.slice(0, 3).map((i) => `${i.category} ${i.name}`)
  return failed.length ? `${failed.length} checks fail: ${first.join('; ')}` : undefined
}

/**
 * One later migration rolled back on its own (`rollback --steps 1`): the catalog must then be what the
 * history before it builds.
 */
const stepBack = (t: ModuleTarget, before: readonly string[]) => async () => {
  const back = rollbackFailureLine(await rollbackModule(t, { yes: true, steps: 1 }))
  if (back) return back
  return withClient(t, async (c) => {
    const expected = await expectedCatalog(c, before)
    const differs = compareCatalogs(expected, await readCatalog(c, t.pgSchema), ['_prisma_migrations'], 'required').filter((i) => !i.ok)
    const first = differs.slice(0, 3).map((i) => `${i.category} ${i.name}: ${i.actual}`)
    return differs.length ? `the catalog is not the one before it: ${first.join('; ')}` : undefined
  })
}

/**
 * deploy → verify → each later migration rolled back on its own, newest first, each leaving the
 * catalog of the history before it → the rest rolled back → nothing left → deploy → verify, of one
 * module on `target`, a scratch database (see withScratchTargets), each step timed. Stops at the
 * first failing step.
 */
async function cycleOn(target: ModuleTarget): Promise<CycleResult> {
  const steps: CycleStep[] = []
  const history = readMigrationFolders(target.module.migrationsDir)
  const later = history.filter((m) => m.name !== BASELINE_NAME)
  const expectedSteps = 6 + later.length
  let ok = (await step(steps, 'deploy', deployStep(target))) && (await step(steps, 'verify', verifyStep(target)))
  for (const m of [...later].reverse()) {
    if (!ok) break
    const before = history.slice(0, history.indexOf(m)).map((x) => x.up)
    ok = await step(steps, `step back ${m.name}`, stepBack(target, before))
  }
  // The rest, in order, each only if every step before it passed.
  const rest: [string, () => Promise<string | undefined>][] = [
    ['rollback', async () => rollbackFailureLine(await rollbackModule(target, { yes: true, all: true }))],
    ['nothing left', () => leftovers(target)],
    ['re-deploy', deployStep(target)],
    ['re-verify', verifyStep(target)],
  ]
  for (const [name, fn] of rest) if (ok) ok = await step(steps, name, fn)
  return { module: target.module.name, database: target.display, ok: steps.length === expectedSteps && steps.every((s) => s.ok), steps }
}

/** The cycle of one module, in a scratch database of its own server (created and dropped here). */
export const cycleModule = (t: ModuleTarget): Promise<CycleResult> => withScratchTargets([t], ([s]) => cycleOn(s))

/** `cycle`: the up → down → up cycle for each selected module, all at once, in one scratch database per server. */
export function cycle(opts: CommandOptions = {}): Promise<CycleResult[]> {
  return withCheckedTargets(opts, (targets) => withScratchTargets(targets, (scratch) => eachTarget(scratch, (t) => moduleStep(opts, t, () => cycleOn(t)))))
}
