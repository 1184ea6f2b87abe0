import type pg from 'pg'
import { compareCatalogs, withoutTables } from '../catalog/compare.ts'
import { readCatalog, type Catalog } from '../catalog/read.ts'
import { maskUrl } from '../config/urls.ts'
import { describeTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import { quietClient } from '../db/pg-config.ts'
import { claimScratchDatabase, scratchServer } from '../db/scratch.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { compareHistory, readAppliedMigrations, readMigrationFolders, type MigrationFolder } from '../history/history.ts'
import { runIn } from '../migrate/scratch.ts'
import { copyRows, tableStates, type TableState } from './copy.ts'
import { maxBytesOf, RehearsalDriftError, RehearsalHistoryError, RehearsalTooLargeError } from './errors.ts'
import { differingTables, failureOf, runStep, stepRecord, type RehearseStep, type StepFailure } from './steps.ts'

export type { RehearseAction, RehearseStep, RehearseTable, StepFailure } from './steps.ts'

export interface RehearseOptions extends CommandOptions {
  /**
   * The most the module's tables may take on the target (pg_total_relation_size, bytes) for a
   * rehearsal; above it the command refuses and copies nothing. Default ARTSTORE_REHEARSE_MAX_BYTES,
   * else 1 GiB.
   */
  maxBytes?: number | string
}

export interface RehearseResult extends ReturnType<typeof describeTarget> {
  /** rehearsed: every step ran; nothing-pending: the target has applied every migration; failed: a step failed. */
  status: 'rehearsed' | 'nothing-pending' | 'failed'
  /** The migrations the target has applied (replayed for the copy's structure). */
  applied: string[]
  /** The migrations rehearsed, in order. */
  pending: string[]
  /** The scratch database the rehearsal ran in (masked URL), dropped afterwards. */
  scratch?: string
  /** What the module's tables take on the target, and the bound. */
  bytes?: number
  maxBytes: number
  /** copy, then apply, down, reapply per pending migration; the last one is the failed step, if any. */
  steps: RehearseStep[]
  /** Differences of the target from its applied history that do not stop the copy (an extra index, a comment). */
  warnings: string[]
  /** The failed step: its migration and action, and the database's error. */
  failure?: StepFailure & { migration?: string; action: RehearseStep['action'] }
}

const prefixArg = (t: ModuleTarget) => (t.module.prefix ? ` --prefix ${t.module.prefix}` : '')

/** What the module's tables take on the target. */
async function sizeOf(c: pg.ClientBase, schema: string, tables: readonly string[]): Promise<number> {
  const { rows } = await c.query<{ bytes: string }>(
    `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as bytes from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = any($2::text[])`,
    [schema, tables],
  )
  return Number(rows[0].bytes)
}

/**
 * The target's tables must be those its applied history builds (the copy's), column for column; any
 * other difference is a warning. Another instance's tables beside them (the shared layout) are not the module's.
 */
function structureCheck(t: ModuleTarget, built: Catalog, target: Catalog, tables: readonly string[]): string[] {
  const theirs = withoutTables(
    target,
    target.tables.filter((x) => !tables.includes(x)),
  )
  const differences = compareCatalogs(built, theirs, ['_prisma_migrations'], 'required').filter((i) => !i.ok)
  const show = (i: (typeof differences)[number]) => `${i.category} ${i.name}: ${i.actual ?? 'differs'}`
  const blocking = differences.filter((i) => i.category === 'table' || i.category === 'column')
  if (blocking.length) throw new RehearsalDriftError(t.module.name, blocking.map(show), prefixArg(t))
  return differences.map((i) => `the target's ${show(i)} (its applied history builds ${i.expected})`)
}

/**
 * Builds the copy: the applied history replayed on the scratch database (the target's structure),
 * the bound checked, the target's rows streamed in, and the copy proved equal to the target, table by
 * table. `target` is in a read-only repeatable-read transaction: one instant of the target is copied.
 */
async function buildCopy(t: ModuleTarget, target: pg.ClientBase, copy: pg.ClientBase, applied: readonly MigrationFolder[], maxBytes: number) {
  const schema = t.pgSchema
  for (const m of applied) await runIn(copy, schema, m.up)
  const built = await readCatalog(copy, schema)
  const tables = built.tables.filter((x) => x !== '_prisma_migrations')
  const warnings = structureCheck(t, built, await readCatalog(target, schema), tables)
  const bytes = await sizeOf(target, schema, tables)
  if (bytes > maxBytes) throw new RehearsalTooLargeError(t.module.name, bytes, maxBytes, prefixArg(t))
  const started = performance.now()
  let failure: StepFailure | undefined
  try {
    await copyRows(target, copy, schema, built, tables)
  } catch (e) {
    failure = failureOf(e)
  }
  const ms = Math.round(performance.now() - started)
  const source = await tableStates(target, schema, tables)
  const copied = failure ? source : await tableStates(copy, schema, tables)
  const step = stepRecord({ action: 'copy', ms }, copied, copied, failure ? [] : differingTables(source, copied), failure)
  if (!failure && step.differs.length) step.failure = { message: `the copy differs from the target in ${step.differs.join(', ')}` }
  step.ok = !step.failure
  return { step, states: copied, warnings, bytes }
}

/** Each pending migration on the copy: applied, stepped back with its down.sql, applied again. Stops at the first failure. */
async function runPending(t: ModuleTarget, copy: pg.ClientBase, pending: readonly MigrationFolder[], start: TableState[]): Promise<RehearseStep[]> {
  const steps: RehearseStep[] = []
  let state = start
  for (const m of pending) {
    const before = state
    const apply = await runStep(copy, t.pgSchema, { migration: m.name, action: 'apply' }, m.up, before)
    steps.push(apply.step)
    if (!apply.step.ok) break
    if (m.down === undefined) {
      const failure = {
        message: `${m.name} has no down.sql: write one that returns the catalog to the state before it (npx artstore-db migrate new writes both)`,
      }
      steps.push(stepRecord({ migration: m.name, action: 'down', ms: 0 }, apply.after, apply.after, [], failure))
      break
    }
    const down = await runStep(copy, t.pgSchema, { migration: m.name, action: 'down' }, m.down, apply.after, before)
    steps.push(down.step)
    if (!down.step.ok) break
    const again = await runStep(copy, t.pgSchema, { migration: m.name, action: 'reapply' }, m.up, down.after, apply.after)
    steps.push(again.step)
    if (!again.step.ok) break
    state = again.after
  }
  return steps
}

/**
 * `rehearse` of one module: its pending migrations on a copy of the target's rows, in a scratch
 * database of the scratch server (ARTSTORE_SCRATCH_URL, else the target's), dropped afterwards. The
 * target is only read, in one read-only transaction: its history, its catalog, its size and its rows.
 */
export async function rehearseModule(t: ModuleTarget, maxBytes: number): Promise<RehearseResult> {
  const folders = readMigrationFolders(t.module.migrationsDir)
  return withClient(t, async (target) => {
    await target.query('begin isolation level repeatable read read only')
    let ended = false
    const end = async () => {
      if (ended) return
      ended = true
      await target.query('rollback')
    }
    try {
      const history = compareHistory(folders, await readAppliedMigrations(target))
      if (history.state === 'failed' || history.state === 'modified' || history.state === 'diverged') {
        const names = { failed: history.failed, modified: history.modified, diverged: history.unknown }[history.state]
        throw new RehearsalHistoryError(t.module.name, history.state, names, prefixArg(t))
      }
      const base = { ...describeTarget(t), applied: history.applied, pending: history.pending, maxBytes, steps: [] as RehearseStep[], warnings: [] as string[] }
      if (!history.pending.length) return { ...base, status: 'nothing-pending' as const }
      const scratch = await claimScratchDatabase(scratchServer(t.url), 'rehearse')
      const copy = quietClient({ connectionString: scratch.url })
      try {
        await copy.connect()
        const pick = (names: readonly string[]) => folders.filter((f) => names.includes(f.name))
        const built = await buildCopy(t, target, copy, pick(history.applied), maxBytes)
        await end() // the target's part is done: nothing more is read from it
        const steps = [built.step, ...(built.step.ok ? await runPending(t, copy, pick(history.pending), built.states) : [])]
        const failed = steps.find((s) => !s.ok)
        return {
          ...base,
          status: failed ? ('failed' as const) : ('rehearsed' as const),
          scratch: maskUrl(scratch.url),
          bytes: built.bytes,
          steps,
          warnings: built.warnings,
          ...(failed ? { failure: { migration: failed.migration, action: failed.action, ...failed.failure! } } : {}),
        }
      } finally {
        await copy.end().catch(() => undefined)
        await scratch.release()
      }
    } finally {
      await end()
    }
  })
}

/**
 * `rehearse`: for each selected module with pending migrations, the migrations on a copy of its real
 * rows (see rehearseModule), one module after another (each copy takes the scratch server's disk and
 * time). The targets are only read. Refuses (before copying) a module whose tables take more than the
 * bound, or whose history is failed, modified or diverged.
 */
export function rehearse(opts: RehearseOptions = {}): Promise<RehearseResult[]> {
  const maxBytes = maxBytesOf(opts.maxBytes, opts.env ?? process.env)
  return withCheckedTargets(opts, async (targets) => {
    const results: RehearseResult[] = []
    for (const t of targets) results.push(await moduleStep(opts, t, () => rehearseModule(t, maxBytes)))
    return results
  })
}
