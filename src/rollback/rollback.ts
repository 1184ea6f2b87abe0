import path from 'node:path'
import type pg from 'pg'
import { BASELINE_NAME } from '../baseline/baseline.ts'
import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { MIGRATION_LOCK_KEY, retryOnDeadlock, turnOptions, turnTimeoutSeconds, withDeployTurn, withMigrationTransaction } from '../db/lock.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { describeBlockers, isLockTimeout, lockRetrySettings, withLockRetries, type Blocker, type LockWait } from '../db/lock-retry.ts'
import { connectionLost, ModuleRequiredError, RefusalError, rollbackConfirmation } from '../errors.ts'
import { getModule, moduleFlags, projectRoot } from '../modules.ts'
import { readAppliedMigrations, readMigrationFolders, type MigrationFolder } from '../history/history.ts'
import { assertOwnHistory } from '../history/owner.ts'
import { assertOwnDatabase } from '../guard/guard.ts'
import { rowsLost, type RowsLost } from './data-loss.ts'
import { withoutTransactionControl } from './script.ts'
import { runBatched } from '../backfill/run.ts'
import { readMigrationHeader } from '../migrate/header.ts'
import { checkRollbackRange, InvalidRollbackRangeError, StepsPastBaselineError } from './range.ts'

export { InvalidRollbackRangeError, StepsPastBaselineError } from './range.ts'

export type { RowsLost } from './data-loss.ts'

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
  /** Return the SQL that would run and the rows it would take, change nothing. */
  dryRun?: boolean
  /** The longest lock_timeout of one try of a step (a duration); default ARTSTORE_LOCK_TIMEOUT, else 50 ms. */
  lockTimeout?: string
  /** How long the tries of one step may go on (a duration); default ARTSTORE_LOCK_RETRY_FOR, else 3 min. */
  lockRetryFor?: string
  /** Told of each try of a step that ran out of its lock_timeout (the CLI shows it on a terminal). */
  onLockWait?: (w: LockWait) => void
  /** Roll back the last N applied migrations; never 0_baseline (refused when fewer than N come after it). */
  steps?: number
  /** Roll back every migration applied after this one (it stays applied). */
  to?: string
  /** Roll back the whole history, 0_baseline included: every table of the module goes, with its rows. */
  all?: boolean
}

/** A down.sql the database refused: nothing of that step was changed, and the migration stays applied. */
export interface RollbackFailure {
  migration: string
  /** The database's SQLSTATE, e.g. 23505. */
  sqlState: string
  /** The database's message, e.g. `could not create unique index "…"`. */
  message: string
  detail?: string
  hint?: string
  /** The line of down.sql the error points at, when the database says where. */
  line?: number
  /** 55P03, the budget of lock retries spent: the sessions its last try waited for. */
  blockers?: Blocker[]
  /** What to do about it, ending with the command to run. */
  next: string
}

export interface RollbackResult extends ReturnType<typeof describeTarget> {
  status: 'rolled-back' | 'would-roll-back' | 'not-applied' | 'failed'
  /** The migrations rolled back (or that would be), newest first; `failed`: those rolled back before the failure. */
  migrations: string[]
  /** Everything that runs, in order: each migration's down.sql and history row in one transaction. */
  sql: string
  /** Dry run: every table whose rows would go, and every column whose values would, counted exactly now. */
  rowsLost?: RowsLost[]
  /** `failed`: the step that failed, with the database's error. */
  failure?: RollbackFailure
  /** `failed`: the migrations of the range still applied (the failed one first). */
  notRun?: string[]
}

const forget = (name: string) => `DELETE FROM "_prisma_migrations" WHERE "migration_name" = '${name.replace(/'/g, "''")}';\n`

/** The migrations to revert, newest first, from what is applied and the range asked for. */
function selectRange(module: string, applied: readonly string[], opts: Pick<RollbackOptions, 'steps' | 'to' | 'all'>): string[] {
  checkRollbackRange(opts)
  const newestFirst = [...applied].reverse()
  if (opts.steps !== undefined) {
    const later = applied.filter((name) => name !== BASELINE_NAME)
    // Nothing applied: nothing to take, and no baseline to protect.
    if (applied.length && opts.steps > later.length) throw new StepsPastBaselineError(module, opts.steps, later)
    return newestFirst.slice(0, opts.steps)
  }
  if (opts.to !== undefined) {
    const at = applied.indexOf(opts.to)
    if (at < 0) throw new InvalidRollbackRangeError(`--to ${opts.to} is not an applied migration (applied: ${applied.join(', ') || 'none'})`)
    return newestFirst.slice(0, applied.length - 1 - at)
  }
  return newestFirst
}

/** The history rows that stand (not rolled back), oldest first. */
const standing = async (c: pg.ClientBase) => (await readAppliedMigrations(c)).filter((m) => !m.rolledBack)

/** One step of a rollback: a migration's down.sql as it runs (transaction control made harmless), and its folder. */
interface Step {
  name: string
  down: string
  folder: MigrationFolder
}

/** What a rollback reverts, newest first, and the SQL it runs; refuses (throws) what it cannot revert. */
async function planRollback(
  c: pg.ClientBase,
  t: ModuleTarget,
  folders: ReadonlyMap<string, MigrationFolder>,
  opts: Pick<RollbackOptions, 'steps' | 'to' | 'all'>,
): Promise<{ steps: Step[]; sql: string }> {
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
    t.module.name,
    rows.map((m) => m.name),
    opts,
  )
  const steps: Step[] = []
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
    steps.push({ name, down: withoutTransactionControl(folder.down, t.module.name, name).sql, folder })
  }
  const sql = steps.map((s) => `-- Roll back ${s.name}\n${s.down.replace(/\n*$/, '\n')}${forget(s.name)}`).join('\n')
  return { steps, sql }
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

/** The command that takes up a rollback where it failed, `done` steps in. */
function againCommand(t: ModuleTarget, opts: Pick<RollbackOptions, 'steps' | 'to' | 'all'>, done: number): string {
  const range = opts.all ? '--all' : opts.to !== undefined ? `--to ${opts.to}` : `--steps ${(opts.steps ?? 1) - done}`
  return `npx artstore-db rollback ${moduleFlags(t.module)} ${range} --yes`
}

/** An error the database raised in a step (it carries its SQLSTATE) as the step's failure; anything else is not one. */
function stepFailure(e: unknown, t: ModuleTarget, step: Step, again: string): RollbackFailure | undefined {
  const err = e as { code?: unknown; message?: string; detail?: string; hint?: string; position?: string }
  if (typeof err?.code !== 'string' || !/^[0-9A-Z]{5}$/.test(err.code) || connectionLost(e)) return undefined
  const position = Number(err.position)
  const file = path.relative(projectRoot, path.join((t.module.template ?? t.module).migrationsDir, step.name, 'down.sql'))
  return {
    migration: step.name,
    sqlState: err.code,
    message: String(err.message),
    ...(err.detail ? { detail: err.detail } : {}),
    ...(err.hint ? { hint: err.hint } : {}),
    ...(position > 0 ? { line: step.down.slice(0, position - 1).split('\n').length } : {}),
    next: `nothing of ${step.name} was changed (its step was rolled back) and it stays applied: fix what the error names (the rows in the way, or ${file}), then run ${again}`,
  }
}

/**
 * Reverts a module's migrations, newest first: each one's down.sql and the removal of its history row
 * in one transaction under the migration lock (a `BEGIN`/`COMMIT` of the script, as Prisma writes
 * around an enum's recreation, is made a comment: it would end that transaction). The last `steps`
 * (never 0_baseline), those after `to`, or with `all` the whole history. Refuses without `yes`, without
 * a range, when a migration to revert has no down.sql or changed since it was applied, when a
 * migration is failed, or when the database is another module's; nothing is changed then. A down.sql
 * the database refuses ends the rollback there with status `failed`: that step changed nothing, the
 * ones before it stay rolled back. The history is read in the database's deploy turn, so two
 * rollbacks, or a rollback and a deploy, never act on what the other has just changed.
 */
export async function rollbackModule(
  t: ModuleTarget,
  opts: Pick<RollbackOptions, 'yes' | 'dryRun' | 'steps' | 'to' | 'all' | 'env' | 'onTurnWait' | 'lockTimeout' | 'lockRetryFor' | 'onLockWait'>,
): Promise<RollbackResult> {
  if (!opts.yes && !opts.dryRun) throw rollbackConfirmation(t.module.name)
  const folders = new Map<string, MigrationFolder>(readMigrationFolders(t.module.migrationsDir).map((f) => [f.name, f]))
  return withClient(t, async (c) => {
    await assertOwnDatabase(c, t)
    await assertOwnHistory(c, t)
    if (opts.dryRun) {
      const { steps, sql } = await planRollback(c, t, folders, opts)
      const lost = await rowsLost(
        c,
        steps.map((s) => ({ migration: s.name, down: s.down })),
      )
      return { ...describeTarget(t), status: steps.length ? 'would-roll-back' : 'not-applied', migrations: steps.map((s) => s.name), sql, rowsLost: lost }
    }
    // In the database's deploy turn: never blocked on the migration lock while a deploy builds an index CONCURRENTLY.
    return withDeployTurn(
      c,
      async (): Promise<RollbackResult> => {
        const { steps, sql } = await planRollback(c, t, folders, opts)
        const names = steps.map((s) => s.name)
        if (!steps.length) return { ...describeTarget(t), status: 'not-applied', migrations: [], sql }
        // Lock timeouts with retries (see src/db/lock-retry.ts): each try of a step waits a short lock_timeout.
        let gaveUp: LockWait | undefined
        const settings = lockRetrySettings({
          ...opts,
          onLockWait: (w) => {
            if (w.gaveUp) gaveUp = w
            opts.onLockWait?.(w)
          },
        })
        const { pid, version } = (
          await c.query<{ pid: number; version: number }>(`select pg_backend_pid() as pid, current_setting('server_version_num')::int as version`)
        ).rows[0]
        for (const [i, step] of steps.entries()) {
          try {
            // A batched down.sql runs in its batches; its last one removes the history row, under the migration lock.
            const batched = readMigrationHeader(step.down).batched !== undefined
            await withClient(t, (watcher) =>
              batched
                ? runBatched({
                    client: c,
                    watch: { pid, watcher },
                    script: step.down,
                    retry: settings,
                    version,
                    progressName: `${step.name}/down.sql`,
                    finish: async () => {
                      await c.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
                      await assertStillNewest(c, t, step.name)
                      await c.query(forget(step.name))
                    },
                  }).then(() => undefined)
                : withLockRetries({
                    settings,
                    pid,
                    watcher,
                    migration: step.name,
                    attempt: (timeout) =>
                      retryOnDeadlock(() =>
                        withMigrationTransaction(c, async () => {
                          await assertStillNewest(c, t, step.name)
                          await c.query(`set local lock_timeout = '${timeout}ms'`)
                          await c.query(step.down)
                          await c.query(forget(step.name))
                        }),
                      ),
                  }),
            )
          } catch (e) {
            const failure = stepFailure(e, t, step, againCommand(t, opts, i))
            if (!failure) throw e
            if (gaveUp && isLockTimeout(e)) {
              failure.blockers = gaveUp.blockers
              failure.next = `${step.name} never got its locks within ${Math.round(gaveUp.retryForMs / 100) / 10} s (held by ${describeBlockers(gaveUp.blockers)}): nothing of it was changed and it stays applied; when those sessions have ended, run ${againCommand(t, opts, i)} (or wait longer: --lock-retry-for 10m)`
            }
            return { ...describeTarget(t), status: 'failed', migrations: names.slice(0, i), sql, failure, notRun: names.slice(i) }
          }
        }
        return { ...describeTarget(t), status: 'rolled-back', migrations: names, sql }
      },
      turnOptions(opts),
    )
  })
}

/** A failed rollback's error in one line (undefined when it did not fail): for reports that show one line per step. */
export const rollbackFailureLine = (r: RollbackResult): string | undefined =>
  r.failure
    ? `${r.failure.migration}/down.sql failed: ${r.failure.sqlState} ${r.failure.message}${r.failure.detail ? ` (${r.failure.detail})` : ''}`
    : undefined

/** `rollback --module m (--steps N | --to <migration> | --all) --yes`: revert that module's migrations. */
export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  if (!opts.module) throw new ModuleRequiredError('rollback acts on one module at a time')
  getModule(opts.module)
  if (!opts.yes && !opts.dryRun) throw rollbackConfirmation(opts.module)
  checkRollbackRange(opts)
  turnTimeoutSeconds(opts.env ?? process.env)
  lockRetrySettings(opts) // bad durations refused before anything is read
  return withCheckedTargets(opts, async ([t]) => rollbackModule(t, opts))
}
