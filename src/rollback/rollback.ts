import type pg from 'pg'
import { BASELINE_NAME } from '../baseline/baseline.ts'
import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { retryOnDeadlock, withDeployTurn, withMigrationTransaction } from '../db/lock.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { ModuleRequiredError, RefusalError, rollbackConfirmation, UsageError } from '../errors.ts'
import { getModule } from '../modules.ts'
import { readAppliedMigrations, readMigrationFolders, type MigrationFolder } from '../history/history.ts'
import { assertOwnHistory } from '../history/owner.ts'
import { assertOwnDatabase } from '../guard/guard.ts'

export class InvalidRollbackRangeError extends UsageError {
  constructor(reason: string) {
    super(
      `${reason}: give --steps N (the last N applied migrations) or --to <migration> (roll back what came after it), not both; neither rolls back the whole history`,
    )
  }
}

export class DownScriptMissingError extends RefusalError {
  constructor(module: string, migration: string) {
    super(
      migration === BASELINE_NAME
        ? `the ${module} module has no 0_baseline/down.sql: run npx artstore-db baseline --module ${module}`
        : `${migration} of the ${module} module has no down.sql, so it cannot be rolled back: write its down.sql (npx artstore-db migrate check tells whether it restores the catalog)`,
    )
  }
}

export class RollbackBlockedError extends RefusalError {
  constructor(module: string, reason: string, fix: string) {
    super(`cannot roll back the ${module} module: ${reason}: ${fix}`)
  }
}

export interface RollbackOptions extends CommandOptions {
  /** Confirms the destructive run; without it (and without dryRun) the library refuses. */
  yes?: boolean
  /** Return the SQL that would run, change nothing. */
  dryRun?: boolean
  /** Roll back the last N applied migrations. */
  steps?: number
  /** Roll back every migration applied after this one (it stays applied). */
  to?: string
}

export interface RollbackResult extends ReturnType<typeof describeTarget> {
  status: 'rolled-back' | 'would-roll-back' | 'not-applied'
  /** The migrations rolled back (or that would be), newest first. */
  migrations: string[]
  /** Everything that runs, in order: each migration's down.sql and history row in one transaction. */
  sql: string
}

const forget = (name: string) => `DELETE FROM "_prisma_migrations" WHERE "migration_name" = '${name.replace(/'/g, "''")}';\n`

/** Refuses a range that cannot mean anything, before any connection is made. */
function validateRange(opts: Pick<RollbackOptions, 'steps' | 'to'>): void {
  if (opts.steps !== undefined && opts.to !== undefined) throw new InvalidRollbackRangeError('--steps and --to were both given')
  if (opts.steps !== undefined && (!Number.isInteger(opts.steps) || opts.steps < 1))
    throw new InvalidRollbackRangeError(`--steps ${opts.steps} is not a positive whole number`)
}

/** The migrations to revert, newest first, from what is applied and the range asked for. */
function selectRange(applied: readonly string[], opts: Pick<RollbackOptions, 'steps' | 'to'>): string[] {
  validateRange(opts)
  const newestFirst = [...applied].reverse()
  if (opts.steps !== undefined) return newestFirst.slice(0, opts.steps)
  if (opts.to !== undefined) {
    const at = applied.indexOf(opts.to)
    if (at < 0) throw new InvalidRollbackRangeError(`--to ${opts.to} is not an applied migration (applied: ${applied.join(', ') || 'none'})`)
    return newestFirst.slice(0, applied.length - 1 - at)
  }
  return newestFirst
}

/** The history rows that stand (not rolled back), oldest first. */
const standing = async (c: pg.ClientBase) => (await readAppliedMigrations(c)).filter((m) => !m.rolledBack)

/** What a rollback reverts, newest first, and the SQL it runs; refuses (throws) what it cannot revert. */
async function planRollback(
  c: pg.ClientBase,
  t: ModuleTarget,
  folders: ReadonlyMap<string, MigrationFolder>,
  opts: Pick<RollbackOptions, 'steps' | 'to'>,
): Promise<{ selected: string[]; sql: string }> {
  const rows = await standing(c)
  const failed = rows.filter((m) => !m.finished).map((m) => m.name)
  if (failed.length) {
    throw new RollbackBlockedError(
      t.module.name,
      `${failed.join(', ')} failed and is not resolved`,
      `settle it first with npx artstore-db resolve --module ${t.module.name} --rolled-back ${failed[0]}`,
    )
  }
  const selected = selectRange(
    rows.map((m) => m.name),
    opts,
  )
  for (const name of selected) {
    const folder = folders.get(name)
    if (!folder)
      throw new RollbackBlockedError(
        t.module.name,
        `${name} is applied but not in ${t.module.migrationsDir}`,
        'check out the migrations this database was deployed from',
      )
    if (folder.down === undefined) throw new DownScriptMissingError(t.module.name, name)
    const row = rows.find((r) => r.name === name)!
    if (row.checksum !== folder.checksum) {
      throw new RollbackBlockedError(
        t.module.name,
        `${name}/migration.sql changed since it was applied, so its down.sql may not fit`,
        'restore the migration as it was deployed',
      )
    }
  }
  const sql = selected.map((name) => `-- Roll back ${name}\n${folders.get(name)!.down!.replace(/\n*$/, '\n')}${forget(name)}`).join('\n')
  return { selected, sql }
}

/**
 * Under the migration lock, before a migration is reverted: it must still be the newest applied one (a
 * `prisma migrate deploy`, which takes no deploy turn, may have applied another since the plan).
 */
async function assertStillNewest(c: pg.ClientBase, t: ModuleTarget, name: string): Promise<void> {
  const newest = (await standing(c)).at(-1)?.name
  if (newest !== name) {
    throw new RollbackBlockedError(
      t.module.name,
      `the history changed while rollback waited (${newest ? `${newest} is now the newest applied migration` : 'nothing is applied now'}, not ${name})`,
      'check npx artstore-db status, then run the rollback again',
    )
  }
}

/**
 * Reverts a module's migrations, newest first: each one's down.sql and the removal of its history row
 * in one transaction under the migration lock. The whole history by default, else the last `steps`,
 * or those after `to`. Refuses without `yes`, when a migration to revert has no down.sql or changed
 * since it was applied, when a migration is failed, or when the database is another module's;
 * nothing is changed then. The history is read in the database's deploy turn, so two rollbacks, or a
 * rollback and a deploy, never act on what the other has just changed.
 */
export async function rollbackModule(t: ModuleTarget, opts: Pick<RollbackOptions, 'yes' | 'dryRun' | 'steps' | 'to'>): Promise<RollbackResult> {
  if (!opts.yes && !opts.dryRun) throw rollbackConfirmation(t.module.name)
  const folders = new Map<string, MigrationFolder>(readMigrationFolders(t.module.migrationsDir).map((f) => [f.name, f]))
  return withClient(t, async (c) => {
    await assertOwnDatabase(c, t)
    await assertOwnHistory(c, t)
    if (opts.dryRun) {
      const { selected, sql } = await planRollback(c, t, folders, opts)
      return { ...describeTarget(t), status: selected.length ? 'would-roll-back' : 'not-applied', migrations: selected, sql }
    }
    // In the database's deploy turn: never blocked on the migration lock while a deploy builds an index CONCURRENTLY.
    return withDeployTurn(c, async (): Promise<RollbackResult> => {
      const { selected, sql } = await planRollback(c, t, folders, opts)
      if (!selected.length) return { ...describeTarget(t), status: 'not-applied', migrations: [], sql }
      for (const name of selected) {
        await retryOnDeadlock(() =>
          withMigrationTransaction(c, async () => {
            await assertStillNewest(c, t, name)
            await c.query(folders.get(name)!.down!)
            await c.query(forget(name))
          }),
        )
      }
      return { ...describeTarget(t), status: 'rolled-back', migrations: selected, sql }
    })
  })
}

/** `rollback --module m [--steps N | --to <migration>] --yes`: revert that module's migrations. */
export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  if (!opts.module) throw new ModuleRequiredError('rollback acts on one module at a time')
  getModule(opts.module)
  if (!opts.yes && !opts.dryRun) throw rollbackConfirmation(opts.module)
  validateRange(opts)
  return withCheckedTargets(opts, async ([t]) => rollbackModule(t, opts))
}
