import type pg from 'pg'
import { describeInvalidIndex, readInvalidIndexes } from '../catalog/validity.ts'
import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withDeployTurn, withMigrationTransaction } from '../db/lock.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import {
  lockRetrySettings,
  lockWaitsOf,
  LocksNotGrantedError,
  withCommandLockRetries,
  type LockRetrySettings,
  type LockWait,
  type LockWaits,
} from '../db/lock-retry.ts'
import { catalogsAround, matches } from '../deploy/recover.ts'
import { withModuleEngine } from '../engine/module.ts'
import { ConfirmationRequiredError, RefusalError, UsageError } from '../errors.ts'
import { readMigrationFolders, type AppliedMigration, type MigrationFolder } from '../history/history.ts'
import { readOwnHistory } from '../history/owner.ts'
import { getModule, moduleFlags } from '../modules.ts'
import { assertOwnDatabase } from '../guard/guard.ts'

/**
 * `resolve`: what `prisma migrate resolve` does, for one module, through the engine in this process.
 * A failed migration (P3009: deploy refuses to go on) is settled one of two ways, after the database
 * has been put right by hand:
 * - `rolledBack`: its changes were undone; the next deploy runs it again (fixed, if it was edited).
 * - `applied`: it was completed by hand; the next deploy takes it as applied and goes on.
 * Both need a failed row. A third way out is for a migration recorded applied whose changes are not
 * in the database (an edited history, an earlier release's resolve): `unapplied` removes its row.
 */
export interface ResolveOptions extends CommandOptions {
  rolledBack?: string
  applied?: string
  /**
   * An applied migration whose changes are not in the database: its history row is removed, under the
   * migration lock, once it is the newest applied migration and the schema is the one before it. The
   * next deploy runs it again. Needs `yes` (or `dryRun`).
   */
  unapplied?: string
  /** Confirms `unapplied`; without it (and without dryRun) the library refuses. */
  yes?: boolean
  /** Check and report, change nothing. */
  dryRun?: boolean
  /** `unapplied`: the longest lock_timeout of one try (a duration); default ARTSTORE_LOCK_TIMEOUT, else 50 ms. */
  lockTimeout?: string
  /** `unapplied`: how long its tries may go on (a duration); default ARTSTORE_LOCK_RETRY_FOR, else 3 min. */
  lockRetryFor?: string
  /** Told of each try that ran out of its lock_timeout (the CLI shows it on a terminal). */
  onLockWait?: (w: LockWait) => void
}

export interface ResolveResult extends ReturnType<typeof describeTarget> {
  migration: string
  action: 'rolled-back' | 'applied' | 'unapplied'
  status: 'resolved' | 'would-resolve'
  /** `unapplied`: tries that waited for a lock longer than their lock_timeout, when any did. */
  lockWaits?: LockWaits
}

export class ResolveUsageError extends UsageError {
  constructor(reason: string) {
    super(
      `${reason}: run npx artstore-db resolve --module <module> --rolled-back <migration> (its changes undone) or --applied <migration> (completed by hand), or --unapplied <migration> (recorded applied, its changes not there)`,
    )
  }
}

const instance = (t: ModuleTarget) => moduleFlags(t.module)

export class NothingToResolveError extends RefusalError {
  constructor(t: ModuleTarget, migration: string, why: string, next = `see npx artstore-db status ${instance(t)}`) {
    super(`${migration} ${why} in the ${t.module.name} module's history (${t.display}): ${next}`)
  }
}

/**
 * A failed migration whose index is there, INVALID (a failed or interrupted CONCURRENTLY build): never
 * "completed" (`--applied`), nor "undone" (`--rolled-back`: deploy would fail on the index that is there).
 */
export class InvalidIndexResolveError extends RefusalError {
  constructor(action: 'rolled-back' | 'applied', migration: string, index: string, fix: string) {
    super(
      action === 'applied'
        ? `${migration} cannot be marked applied: its index ${index} is INVALID (a CREATE INDEX CONCURRENTLY that did not finish): ${fix}`
        : `${migration} cannot be marked rolled back: its index ${index} is still there, INVALID (a CREATE INDEX CONCURRENTLY that did not finish), and deploy would fail on it: ${fix.replace(/; then npx artstore-db resolve .*$/, '; then run this again')}`,
    )
  }
}

/** `--unapplied` where the database says otherwise. */
export class UnapplyRefusedError extends RefusalError {
  constructor(t: ModuleTarget, migration: string, reason: string, fix: string) {
    super(`cannot mark ${migration} of the ${t.module.name} module unapplied: ${reason}: ${fix}`)
  }
}

/** The checks of `--rolled-back` and `--applied`: a failed row, (applied) a folder, and no INVALID index of its. */
async function checkFailed(c: pg.ClientBase, t: ModuleTarget, action: 'rolled-back' | 'applied', migration: string): Promise<void> {
  const history = readMigrationFolders(t.module.migrationsDir)
  if (action === 'applied' && !history.some((m) => m.name === migration)) {
    throw new NothingToResolveError(t, migration, `is not a migration folder of ${t.module.migrationsDir} and so not`)
  }
  const all = await readOwnHistory(c, t)
  const rows = all.filter((r) => r.name === migration && !r.rolledBack)
  if (!rows.some((r) => !r.finished)) {
    if (rows.some((r) => r.finished)) {
      throw new NothingToResolveError(
        t,
        migration,
        action === 'applied' ? 'is already applied' : 'is applied, not failed,',
        `if its changes are not in the database, npx artstore-db resolve ${instance(t)} --unapplied ${migration} --yes; else see npx artstore-db status ${instance(t)}`,
      )
    }
    throw new NothingToResolveError(t, migration, 'has no failed row (it never ran here, or was settled already)')
  }
  const invalid = (await readInvalidIndexes(c, t.pgSchema)).map((i) => describeInvalidIndex(t, i, history, all)).find((i) => i.migration === migration)
  if (invalid) throw new InvalidIndexResolveError(action, migration, invalid.name, invalid.fix)
}

/**
 * Under the migration lock: `migration` is the newest applied one, and the schema is the one the
 * history builds before it (its changes are not there). Throws what stands in the way.
 */
async function checkUnapplied(
  t: ModuleTarget,
  history: readonly MigrationFolder[],
  around: Awaited<ReturnType<typeof catalogsAround>> | undefined,
  migration: string,
  rows: readonly AppliedMigration[],
) {
  const standing = rows.filter((r) => !r.rolledBack)
  const row = standing.find((r) => r.name === migration)
  if (!row) throw new NothingToResolveError(t, migration, 'is not applied')
  if (!row.finished)
    throw new NothingToResolveError(t, migration, 'is failed, not applied,', `settle it with npx artstore-db resolve ${instance(t)} --rolled-back ${migration}`)
  const newest = standing.at(-1)!.name
  if (newest !== migration) {
    throw new UnapplyRefusedError(
      t,
      migration,
      `${newest} was applied after it`,
      `only the newest applied migration can be: roll back the later ones first (npx artstore-db rollback ${instance(t)} --to ${migration} --yes)`,
    )
  }
  if (!around)
    throw new NothingToResolveError(
      t,
      migration,
      `is not a migration folder of ${t.module.migrationsDir} and so not`,
      'check out the migrations this database was deployed from',
    )
  const actual = await around.live()
  if (matches(around.before, actual)) return
  const invalid = actual.indexes.find((i) => !i.valid && around.created.has(i.name))
  if (invalid && matches(around.after, actual)) {
    const fix = describeInvalidIndex(t, invalid, history, rows).fix
    throw new UnapplyRefusedError(t, migration, `its index ${invalid.name} is there, INVALID`, `${fix} (or DROP INDEX CONCURRENTLY it and run this again)`)
  }
  if (matches(around.after, actual)) {
    throw new UnapplyRefusedError(t, migration, 'its changes are in the database', `to revert them, npx artstore-db rollback ${instance(t)} --steps 1 --yes`)
  }
  throw new UnapplyRefusedError(
    t,
    migration,
    'the schema is neither the one before it nor the one after it',
    `npx artstore-db verify ${instance(t)} names the differences; put the schema as it was before ${migration}, then run this again`,
  )
}

/**
 * `--unapplied`: the checks and the removal of the history row, in one transaction under the migration
 * lock, in the deploy turn, with lock timeouts with retries (see src/db/lock-retry.ts): a try that runs
 * out of its lock_timeout is rolled back whole and tried again; a spent budget changes nothing.
 */
async function unapply(c: pg.ClientBase, t: ModuleTarget, migration: string, dryRun: boolean, settings: LockRetrySettings): Promise<LockWait[]> {
  const history = readMigrationFolders(t.module.migrationsDir)
  const at = history.findIndex((m) => m.name === migration)
  // The catalogs the history builds are worked out first: each in a transaction of its own, rolled back.
  const around = at < 0 ? undefined : await catalogsAround(c, t, history, at)
  const again = `npx artstore-db resolve ${instance(t)} --unapplied ${migration} ${dryRun ? '--dry-run' : '--yes'}`
  const { waits } = await withDeployTurn(c, () =>
    withCommandLockRetries(
      c,
      (fn) => withClient(t, fn),
      settings,
      { migration, gaveUp: (w) => new LocksNotGrantedError(`resolve --unapplied ${migration} of the ${t.module.name} module`, w, again) },
      (timeout) =>
        withMigrationTransaction(c, async () => {
          await c.query(`set local lock_timeout = '${timeout}ms'`)
          await checkUnapplied(t, history, around, migration, await readOwnHistory(c, t))
          if (dryRun) return
          await c.query(`delete from "_prisma_migrations" where migration_name = $1 and finished_at is not null and rolled_back_at is null`, [migration])
        }),
    ),
  )
  return waits
}

async function resolveModule(
  t: ModuleTarget,
  action: ResolveResult['action'],
  migration: string,
  dryRun: boolean,
  settings: LockRetrySettings,
): Promise<ResolveResult> {
  const waits = await withClient(t, async (c) => {
    await assertOwnDatabase(c, t)
    if (action === 'unapplied') return unapply(c, t, migration, dryRun, settings)
    await checkFailed(c, t, action, migration)
    return []
  })
  if (!dryRun && action !== 'unapplied') {
    await withModuleEngine(t, (e) =>
      action === 'rolled-back' ? e.markMigrationRolledBack(migration) : e.markMigrationApplied(t.module.migrationsDir, migration),
    )
  }
  return {
    ...describeTarget(t),
    migration,
    action,
    status: dryRun ? 'would-resolve' : 'resolved',
    ...(waits.length ? { lockWaits: lockWaitsOf(waits) } : {}),
  }
}

/** Settles one migration of one module (see ResolveOptions); refuses when there is nothing to settle. */
export function resolve(opts: ResolveOptions): Promise<ResolveResult> {
  if (!opts.module) throw new ResolveUsageError('resolve acts on one module at a time')
  getModule(opts.module)
  const given = [opts.rolledBack, opts.applied, opts.unapplied].filter((x) => x !== undefined)
  if (given.length !== 1) throw new ResolveUsageError('give exactly one of --rolled-back, --applied and --unapplied')
  const action = opts.rolledBack !== undefined ? 'rolled-back' : opts.applied !== undefined ? 'applied' : 'unapplied'
  const migration = given[0]!
  if (action === 'unapplied' && !opts.yes && !opts.dryRun) {
    throw new ConfirmationRequiredError(
      `resolve --unapplied removes the history row of ${migration} (deploy then runs it again)`,
      'check it, changing nothing',
      'remove it',
    )
  }
  const settings = lockRetrySettings(opts) // bad durations refused before anything is read
  return withCheckedTargets(opts, ([t]) => resolveModule(t, action, migration, !!opts.dryRun, settings))
}
