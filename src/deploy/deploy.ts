import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { moduleFlags, projectRoot } from '../modules.ts'
import { describeTarget, eachTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { SchemaEngineError } from '../engine/engine.ts'
import { withModuleEngine } from '../engine/module.ts'
import { UsageError } from '../errors.ts'
import { readLocalMigrations } from '../history/history.ts'
import { ensureModuleSchemas } from '../history/table.ts'
import { moduleStatus, type ModuleStatus } from '../status/status.ts'
import { assertOwnDatabase } from '../guard/guard.ts'
import { inDeployTurn, retryOnDeadlock, turnOptions, withMigrationTransaction, type DeployTurnOptions } from '../db/lock.ts'
import {
  describeBlockers,
  lockRetrySettings,
  lockWaitsOf,
  LOCK_NOT_AVAILABLE,
  type Blocker,
  type LockRetrySettings,
  type LockWait,
  type LockWaits,
} from '../db/lock-retry.ts'
import { readMigrationHeader, runsOutsideTransaction } from '../migrate/header.ts'
import type { BatchProgress } from '../backfill/run.ts'
import { recoverInterrupted, undecidedNext, type Recovery, type Undecided } from './recover.ts'
import { guardRewrites, moduleMigrations, refusalLine, rewriteGuardSettings, type RewriteGuardSettings, type RewriteRefusal } from './rewrite-guard.ts'

export type { LockWaits } from '../db/lock-retry.ts'

export interface DeployOptions extends CommandOptions {
  /** Report what would be applied, and apply nothing. */
  dryRun?: boolean
  /** The longest lock_timeout of one try (a duration: `500ms`, `2s`); default ARTSTORE_LOCK_TIMEOUT, else 50 ms. */
  lockTimeout?: string
  /** How long the tries of one migration may go on (a duration: `30s`, `10m`); default ARTSTORE_LOCK_RETRY_FOR, else 3 min. */
  lockRetryFor?: string
  /** Told of each try that ran out of its lock_timeout, with the sessions it waited for (the CLI shows it on a terminal). */
  onLockWait?: (w: LockWait) => void
  /** Told of a batched backfill's progress, at its start and after each batch (the CLI draws a bar on a terminal). */
  onBatch?: (p: BatchProgress) => void
  /**
   * The size above which a table is large for the rewrite guard (`10MB`, `512kB`; bytes when bare);
   * default ARTSTORE_REWRITE_THRESHOLD, else 10 MB.
   */
  rewriteThreshold?: string
  /**
   * Migrations whose rewrites of large tables this deploy allows (names, or one comma-separated string);
   * default ARTSTORE_ALLOW_REWRITE. Each must be a migration folder of a selected module.
   */
  allowRewrite?: string | string[]
}

/** A migration that failed: the database's error and what to do. */
export interface DeployFailure {
  migration: string
  /** The database's SQLSTATE, e.g. 2D000; 55P03 when its locks were never got within the budget. */
  sqlState?: string
  message: string
  detail?: string
  hint?: string
  /** The sessions its last try waited for (55P03 only). */
  blockers?: Blocker[]
  /** Whether it is recorded failed (`failed`) or still pending (its locks were never got: nothing applied, no failed row). */
  left: 'failed' | 'pending'
  /** What to do about it, ending with the command to run. */
  next: string
}

/** `refused`: the rewrite guard refused a pending migration; nothing was applied, and it stays pending. */
export type DeployStatus = 'applied' | 'up-to-date' | 'would-apply' | 'failed' | 'refused' | 'not-run'

export interface ModuleDeployResult extends ReturnType<typeof describeTarget> {
  status: DeployStatus
  /** Migrations applied by this run (or, with dryRun, that would be); for a failure, those applied before it. */
  migrations: string[]
  /** For a failure: the migration that failed (or, refused with P3009, the earlier failed one that stops deploy). */
  failedMigration?: string
  /** For a failure: the engine's explanation as Prisma prints it (error code, migration, database error). */
  detail?: string
  /** A migration an earlier deploy left interrupted, settled from what the database shows before going on. */
  recovered?: Recovery
  /** For a failed migration: the migration, the database's error (SQLSTATE, DETAIL, HINT) and the next command. */
  failure?: DeployFailure
  /** Tries that waited for a lock longer than their lock_timeout, when any did. */
  lockWaits?: LockWaits
  /** The batched backfills this run ran (finished or not), as their last progress showed them. */
  backfills?: BatchProgress[]
  /** For `refused`: each statement that rewrites or scans a large table, with the safe form and how to allow it. */
  refused?: RewriteRefusal[]
  /** Rewrites of large tables that ran (or, dry, would) because they were allowed: by the migration's header, by --allow-rewrite or by ARTSTORE_ALLOW_REWRITE. */
  allowedRewrites?: RewriteRefusal[]
  durationMs?: number
}

export class UnknownRewriteMigrationError extends UsageError {
  constructor(migration: string, modules: string[], from: RewriteGuardSettings['allowFrom'] = '--allow-rewrite') {
    super(
      `${from === 'ARTSTORE_ALLOW_REWRITE' ? 'ARTSTORE_ALLOW_REWRITE=' : '--allow-rewrite '}${migration}: no later migration folder of ${modules.join(', ')} has that name: name the pending migration whose rewrites to allow (npx artstore-db status lists them)${from === 'ARTSTORE_ALLOW_REWRITE' ? ', or unset ARTSTORE_ALLOW_REWRITE' : ''}`,
    )
  }
}

/** A failure as `prisma migrate deploy` prints it: the error code, then the engine's message. */
function failureDetail(e: unknown): string {
  const lines =
    e instanceof SchemaEngineError ? [`Error: ${e.code ?? 'schema engine'}`, ...e.message.split('\n')] : String((e as Error)?.message ?? e).split('\n')
  return lines
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 8)
    .join('\n')
}

/**
 * What no deploy can put right, from the history alone: an applied migration.sql changed since, or an
 * applied migration missing from the folder. Deploy stops there (as status and verify do) rather than
 * report the database up to date.
 */
function historyProblem(t: ModuleTarget, s: ModuleStatus): string | undefined {
  if (s.modified.length) {
    return `${s.modified.join(', ')}: migration.sql changed since it was applied here: restore it as deployed (every database holds its checksum); a wanted change goes in a new migration (npx artstore-db migrate new --module ${t.module.name})`
  }
  if (s.unknown.length) {
    return `${s.unknown.join(', ')}: applied here but not in ${path.relative(projectRoot, t.module.migrationsDir)}: deploy from the migrations this database was deployed with (an archived or newer history?)`
  }
  return undefined
}

/** Deletes a migration's unfinished history row, under the migration lock: it never got its locks, and is pending again. */
async function forgetFailedRow(c: pg.ClientBase, migration: string): Promise<void> {
  await withMigrationTransaction(c, async () => {
    await c.query(`delete from _prisma_migrations where migration_name = $1 and finished_at is null and rolled_back_at is null`, [migration])
  })
}

/** The command line of a module target: `--module m`, with `--prefix p` for an instance. */
const targetArgs = (t: ModuleTarget) => moduleFlags(t.module)

/** A failed migration as the report gives it: the database's error, what the failure left, and the next command. */
function deployFailure(t: ModuleTarget, e: SchemaEngineError, migration: string, gaveUp?: LockWait, undecided?: Undecided): DeployFailure {
  const meta = (e.meta ?? {}) as Record<string, unknown>
  const str = (k: string) => (typeof meta[k] === 'string' && meta[k] ? (meta[k] as string) : undefined)
  const sqlState = str('database_error_code')
  const message =
    str('database_error_message') ??
    str('database_error')
      ?.replace(/^ERROR:\s*/, '')
      .split('\n')[0] ??
    e.message.split('\n')[0]
  const detail = str('database_error_detail')
  const hint = str('database_error_hint')
  const base = { migration, ...(sqlState ? { sqlState } : {}), message, ...(detail ? { detail } : {}), ...(hint ? { hint } : {}) }
  const file = path.join((t.module.template ?? t.module).migrationsDir, migration, 'migration.sql')
  const sql = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''
  const batched = readMigrationHeader(sql).batched !== undefined
  if (gaveUp) {
    const seconds = Math.round(gaveUp.retryForMs / 100) / 10
    const applied = batched
      ? 'it runs in batches: those committed before stay, with their progress, and it stays pending; the next deploy goes on after them'
      : 'nothing of it was applied and it stays pending'
    return {
      ...base,
      blockers: gaveUp.blockers,
      left: 'pending',
      next: `${migration} never got its locks within ${seconds} s (${gaveUp.attempt} tries, each waiting at most ${gaveUp.lockTimeoutMs} ms; held by ${describeBlockers(gaveUp.blockers)}): ${applied}; when those sessions have ended, run npx artstore-db deploy ${targetArgs(t)} (or wait longer: --lock-retry-for 10m)`,
    }
  }
  if (e.code !== 'P3018') {
    // P3009 and the like: an earlier failure stops deploy.
    if (undecided) return { ...base, left: 'failed', next: undecidedNext(migration, undecided.undecided, targetArgs(t)) }
    return {
      ...base,
      left: 'failed',
      next: `settle ${migration} first (README "Recovering from a failed migration"): npx artstore-db resolve ${targetArgs(t)} --rolled-back ${migration}`,
    }
  }
  const outside = !!sql && runsOutsideTransaction(sql)
  const rel = path.relative(projectRoot, file)
  const left = batched
    ? `${migration} runs in batches (-- artstore: batched): the batch that failed was rolled back, those committed before it stay with their progress, and it is marked failed`
    : outside
      ? `${migration} runs outside a transaction (-- artstore: no-transaction): what it committed before the error stays, and it is marked failed`
      : `nothing of ${migration} was changed (its transaction was rolled back), and it is marked failed`
  return {
    ...base,
    left: 'failed',
    next: `${left}: fix what the error names (the rows in the way, or ${rel}${outside ? ', made safe to run again' : ''}), then run npx artstore-db resolve ${targetArgs(t)} --rolled-back ${migration} and deploy again${batched ? ' (it goes on after the last committed batch)' : ''}`,
  }
}

/** A module whose pending migrations the rewrite guard refused: nothing applied, each statement named. */
function refusedResult(t: ModuleTarget, refused: RewriteRefusal[], guard: RewriteGuardSettings): ModuleDeployResult {
  const lines = refused.map((r) => refusalLine(r, guard.thresholdBytes))
  return {
    ...describeTarget(t),
    status: 'refused',
    migrations: [],
    failedMigration: refused[0].migration,
    refused,
    detail: [...lines, `nothing was applied; ${[...new Set(refused.map((r) => r.migration))].join(', ')} stays pending`].join('\n'),
  }
}

const allowedOf = (allowed: RewriteRefusal[]) => (allowed.length ? { allowedRewrites: allowed } : {})

/**
 * Applies a module's pending migrations with the schema engine in this process: the same engine call
 * (applyMigrations, under Prisma's advisory lock, one transaction per migration) and the same history
 * rows as `prisma migrate deploy`. With nothing pending or failed the engine is not even loaded.
 * An applied history that changed or went missing fails at once.
 *
 * The work happens in this database's deploy turn (one deploy at a time, see withDeployTurn), on the
 * history as it is read there: a deploy that waited for the turn sees what the one before it did. So
 * of parallel deploys only the one that applied a migration claims it, and a migration another deploy
 * is still applying is never taken for one an earlier deploy left interrupted (which is settled from
 * the catalog first, see recoverInterrupted).
 */
export async function deployModule(
  t: ModuleTarget,
  dryRun = false,
  known?: ModuleStatus,
  turn?: DeployTurnOptions,
  lockRetry?: LockRetrySettings,
  guard: RewriteGuardSettings = rewriteGuardSettings(),
): Promise<ModuleDeployResult> {
  const seen = known ?? (await moduleStatus(t))
  const problem = historyProblem(t, seen)
  if (problem) return { ...describeTarget(t), status: 'failed', migrations: [], detail: problem }
  const lockTimeoutMs = (lockRetry ?? lockRetrySettings()).lockTimeoutMs
  if (dryRun) {
    if (!seen.pending.length) return { ...describeTarget(t), status: 'up-to-date', migrations: [] }
    const guarded = await withClient(t, (c) => guardRewrites(c, moduleMigrations(t), seen.pending, guard, lockTimeoutMs))
    if (guarded.refused.length) return refusedResult(t, guarded.refused, guard)
    return { ...describeTarget(t), status: 'would-apply', migrations: seen.pending, ...allowedOf(guarded.allowed) }
  }
  if (seen.state === 'up-to-date' && seen.applied.length) return { ...describeTarget(t), status: 'up-to-date', migrations: [], durationMs: 0 }
  const started = performance.now()
  const durationMs = () => Math.round(performance.now() - started)
  await withClient(t, (c) => ensureModuleSchemas(c, t.pgSchema, t.module.historySchema))
  return withClient(t, (c) =>
    inDeployTurn(turn)(c, async (): Promise<ModuleDeployResult> => {
      let before = await moduleStatus(t)
      const changed = historyProblem(t, before)
      if (changed) return { ...describeTarget(t), status: 'failed', migrations: [], detail: changed }
      const recovery = before.state === 'failed' ? await recoverInterrupted(t, before) : undefined
      // Left to a person (nothing shows what of it ran): the engine refuses it (P3009), the failure says why.
      const undecided = recovery && 'undecided' in recovery ? recovery : undefined
      const recovered = recovery && !('undecided' in recovery) ? recovery : undefined
      if (recovered) before = await moduleStatus(t)
      const extra: Partial<ModuleDeployResult> = recovered ? { recovered } : {}
      if (before.state === 'up-to-date' && before.applied.length)
        return { ...describeTarget(t), status: 'up-to-date', migrations: [], durationMs: durationMs(), ...extra }
      // The rewrite guard, on this connection and in this turn: the sizes the migrations will meet.
      const guarded = await guardRewrites(c, moduleMigrations(t), before.pending, guard, lockTimeoutMs)
      if (guarded.refused.length) return { ...refusedResult(t, guarded.refused, guard), durationMs: durationMs(), ...extra }
      Object.assign(extra, allowedOf(guarded.allowed))
      const waits: LockWait[] = []
      const backfills = new Map<string, BatchProgress>()
      const retry: LockRetrySettings = {
        ...(lockRetry ?? lockRetrySettings()),
        onLockWait: (w) => {
          waits.push(w)
          lockRetry?.onLockWait?.(w)
        },
        onBatch: (p) => {
          backfills.set(p.migration ?? p.table, p)
          lockRetry?.onBatch?.(p)
        },
      }
      const waited = () => ({ ...(waits.length ? { lockWaits: lockWaitsOf(waits) } : {}), ...(backfills.size ? { backfills: [...backfills.values()] } : {}) })
      try {
        // A deadlock victim has changed nothing: the engine waited for the lock and gave up (see retryOnDeadlock).
        const { appliedMigrationNames } = await retryOnDeadlock(() => withModuleEngine(t, (e) => e.applyMigrations(t.module.migrationsDir), retry))
        return {
          ...describeTarget(t),
          status: appliedMigrationNames.length ? 'applied' : 'up-to-date',
          migrations: appliedMigrationNames,
          durationMs: durationMs(),
          ...extra,
          ...waited(),
        }
      } catch (e) {
        if (!(e instanceof SchemaEngineError)) throw e
        const gaveUp = waits.find((w) => w.gaveUp)
        const lockMigration = gaveUp && e.meta?.database_error_code === LOCK_NOT_AVAILABLE ? String(e.meta.migration_name ?? gaveUp.migration ?? '') : ''
        // Its locks were never got: nothing of it ran. The row the engine marked failed goes (under the
        // migration lock, in this turn), so that the migration is pending and the next deploy runs it.
        if (lockMigration) await forgetFailedRow(c, lockMigration)
        const after = await moduleStatus(t)
        const migrations = after.applied.filter((m) => !before.applied.includes(m))
        const failedMigration = lockMigration || after.failed[0]
        const failure = failedMigration
          ? deployFailure(t, e, failedMigration, gaveUp && lockMigration ? gaveUp : undefined, undecided?.migration === failedMigration ? undecided : undefined)
          : undefined
        return {
          ...describeTarget(t),
          status: 'failed',
          migrations,
          ...(failedMigration ? { failedMigration } : {}),
          detail: failureDetail(e),
          ...(failure ? { failure } : {}),
          durationMs: durationMs(),
          ...extra,
          ...waited(),
        }
      }
    }),
  )
}

/**
 * `deploy`: what `prisma migrate deploy` does, for each selected module, one after another. After a failure the
 * remaining modules are reported as not-run. Never throws for a failed migration: the result says so.
 */
export async function deploy(opts: DeployOptions = {}): Promise<ModuleDeployResult[]> {
  // Bad durations are refused before anything is read or changed.
  const lockRetry = lockRetrySettings({
    lockTimeout: opts.lockTimeout,
    lockRetryFor: opts.lockRetryFor,
    env: opts.env,
    onLockWait: opts.onLockWait,
    onBatch: opts.onBatch,
  })
  const guard = rewriteGuardSettings({ rewriteThreshold: opts.rewriteThreshold, allowRewrite: opts.allowRewrite, env: opts.env })
  return withCheckedTargets(opts, async (targets) => {
    const folders = targets.flatMap((t) => readLocalMigrations(t.module.migrationsDir).map((m) => m.name))
    const unknown = guard.allow.find((m) => !folders.includes(m) || m === '0_baseline')
    if (unknown)
      throw new UnknownRewriteMigrationError(
        unknown,
        targets.map((t) => t.module.name),
        guard.allowFrom,
      )
    // Every module's database is checked before any is changed (a URL may point at another module's),
    // and, on the same connection, what each has applied already.
    const before = await eachTarget(targets, (t) =>
      withClient(t, async (c) => {
        await assertOwnDatabase(c, t)
        return moduleStatus(t, c)
      }),
    )
    const results: ModuleDeployResult[] = []
    for (const [i, t] of targets.entries()) {
      const failedBefore = results.some((r) => r.status === 'failed' || r.status === 'refused')
      results.push(
        failedBefore
          ? { ...describeTarget(t), status: 'not-run', migrations: [] }
          : await moduleStep(opts, t, () => deployModule(t, !!opts.dryRun, before[i], turnOptions(opts), lockRetry, guard)),
      )
    }
    return results
  })
}
