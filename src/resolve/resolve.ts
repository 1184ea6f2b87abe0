import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { withModuleEngine } from '../engine/module.ts'
import { RefusalError, UsageError } from '../errors.ts'
import { readLocalMigrations } from '../history/history.ts'
import { readOwnHistory } from '../history/owner.ts'
import { getModule } from '../modules.ts'
import { assertOwnDatabase } from '../guard/guard.ts'

/**
 * `resolve`: what `prisma migrate resolve` does, for one module, through the engine in this process.
 * A failed migration (P3009: deploy refuses to go on) is settled one of two ways, after the database
 * has been put right by hand:
 * - `rolledBack`: its changes were undone; the next deploy runs it again (fixed, if it was edited).
 * - `applied`: it was completed by hand; the next deploy takes it as applied and goes on.
 */
export interface ResolveOptions extends CommandOptions {
  rolledBack?: string
  applied?: string
  /** Check and report, change nothing. */
  dryRun?: boolean
}

export interface ResolveResult extends ReturnType<typeof describeTarget> {
  migration: string
  action: 'rolled-back' | 'applied'
  status: 'resolved' | 'would-resolve'
}

export class ResolveUsageError extends UsageError {
  constructor(reason: string) {
    super(
      `${reason}: run npx artstore-db resolve --module <module> --rolled-back <migration> (its changes undone) or --applied <migration> (completed by hand)`,
    )
  }
}

export class NothingToResolveError extends RefusalError {
  constructor(t: ModuleTarget, migration: string, why: string) {
    super(
      `${migration} ${why} in the ${t.module.name} module's history (${t.display}): see npx artstore-db status${t.module.prefix ? ` --module ${t.module.name} --prefix ${t.module.prefix}` : ` --module ${t.module.name}`}`,
    )
  }
}

async function resolveModule(t: ModuleTarget, action: ResolveResult['action'], migration: string, dryRun: boolean): Promise<ResolveResult> {
  await withClient(t, async (c) => {
    await assertOwnDatabase(c, t)
    const rows = (await readOwnHistory(c, t)).filter((r) => r.name === migration && !r.rolledBack)
    const failed = rows.some((r) => !r.finished)
    if (action === 'rolled-back' && !failed) throw new NothingToResolveError(t, migration, rows.length ? 'is applied, not failed,' : 'has no failed row')
    if (action === 'applied') {
      if (!readLocalMigrations(t.module.migrationsDir).some((m) => m.name === migration)) {
        throw new NothingToResolveError(t, migration, `is not a migration folder of ${t.module.migrationsDir} and so not`)
      }
      if (rows.some((r) => r.finished)) throw new NothingToResolveError(t, migration, 'is already applied')
    }
  })
  if (!dryRun) {
    await withModuleEngine(t, (e) =>
      action === 'rolled-back' ? e.markMigrationRolledBack(migration) : e.markMigrationApplied(t.module.migrationsDir, migration),
    )
  }
  return { ...describeTarget(t), migration, action, status: dryRun ? 'would-resolve' : 'resolved' }
}

/** Marks one failed migration of one module as rolled back or applied; refuses when there is nothing to settle. */
export function resolve(opts: ResolveOptions): Promise<ResolveResult> {
  if (!opts.module) throw new ResolveUsageError('resolve acts on one module at a time')
  getModule(opts.module)
  if ((opts.rolledBack === undefined) === (opts.applied === undefined)) throw new ResolveUsageError('give exactly one of --rolled-back and --applied')
  const action = opts.rolledBack !== undefined ? 'rolled-back' : 'applied'
  const migration = (opts.rolledBack ?? opts.applied)!
  return withCheckedTargets(opts, ([t]) => resolveModule(t, action, migration, !!opts.dryRun))
}
