import { BASELINE_NAME, readCommittedBaseline } from '../baseline/baseline.ts'
import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withMigrationTransaction } from '../db/lock.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { ArtstoreError } from '../errors.ts'
import { getModule } from '../modules.ts'
import { readAppliedMigrations } from '../history/history.ts'
import { assertOwnDatabase } from '../verify/isolation.ts'

export class ConfirmationRequiredError extends ArtstoreError {
  constructor(module: string) {
    super(`rollback drops every table of the ${module} module, with its data: add --yes to confirm, or --dry-run to see the SQL`)
  }
}

export class ModuleRequiredError extends ArtstoreError {
  constructor() {
    super('rollback acts on one module at a time: add --module admin, storage-element or query')
  }
}

export class LaterMigrationsAppliedError extends ArtstoreError {
  constructor(module: string, later: string[]) {
    super(`the ${module} module has migrations applied after ${BASELINE_NAME} (${later.join(', ')}): roll those back first`)
  }
}

export class DownScriptMissingError extends ArtstoreError {
  constructor(module: string) {
    super(`the ${module} module has no down.sql: run npx artstore-db baseline --module ${module}`)
  }
}

export interface RollbackOptions extends CommandOptions {
  /** Confirms the destructive run; without it (and without dryRun) the library refuses. */
  yes?: boolean
  /** Return the SQL that would run, change nothing. */
  dryRun?: boolean
}

export interface RollbackResult extends ReturnType<typeof describeTarget> {
  status: 'rolled-back' | 'would-roll-back' | 'not-applied'
  /** Everything that runs, in order, in one transaction. */
  sql: string
}

const forgetBaseline = `DELETE FROM "_prisma_migrations" WHERE "migration_name" = '${BASELINE_NAME}';\n`

/**
 * Reverts one module's baseline: runs its down.sql and removes the baseline's history row, in one
 * transaction under the migration lock. Refuses without `yes`, when later migrations are applied,
 * or when the database is another module's.
 */
export async function rollbackModule(t: ModuleTarget, opts: Pick<RollbackOptions, 'yes' | 'dryRun'>): Promise<RollbackResult> {
  const down = readCommittedBaseline(t.module).down
  if (down === undefined) throw new DownScriptMissingError(t.module.name)
  if (!opts.yes && !opts.dryRun) throw new ConfirmationRequiredError(t.module.name)
  const sql = `${down}\n-- Forget the baseline\n${forgetBaseline}`
  return withClient(t, async (c) => {
    await assertOwnDatabase(c, t)
    const live = (await readAppliedMigrations(c)).filter((m) => !m.rolledBack)
    const later = live.filter((m) => m.name !== BASELINE_NAME).map((m) => m.name)
    if (later.length) throw new LaterMigrationsAppliedError(t.module.name, later)
    if (!live.some((m) => m.name === BASELINE_NAME)) return { ...describeTarget(t), status: 'not-applied', sql }
    if (opts.dryRun) return { ...describeTarget(t), status: 'would-roll-back', sql }
    await withMigrationTransaction(c, async () => {
      await c.query(down)
      await c.query(forgetBaseline)
    })
    return { ...describeTarget(t), status: 'rolled-back', sql }
  })
}

/** `rollback --module m --yes`: revert that module's baseline. */
export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  if (!opts.module) throw new ModuleRequiredError()
  getModule(opts.module)
  if (!opts.yes && !opts.dryRun) throw new ConfirmationRequiredError(opts.module)
  return withCheckedTargets(opts, async ([t]) => rollbackModule(t, opts))
}
