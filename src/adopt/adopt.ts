import type pg from 'pg'
import { randomUUID } from 'node:crypto'
import { recordRetiredVersion } from '../archive/retire.ts'
import { BASELINE_NAME, laterMigrations, readCommittedBaseline } from '../baseline/baseline.ts'
import { readExtras } from '../baseline/extras.ts'
import { compareCatalogs, withoutTables, type CheckItem } from '../catalog/compare.ts'
import { readCatalog, type Catalog } from '../catalog/read.ts'
import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withDecidedTransaction, withSessionMigrationLock } from '../db/lock.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { lockRetrySettings, lockWaitsOf, LocksNotGrantedError, withCommandLockRetries, type Blocker, type LockWait, type LockWaits } from '../db/lock-retry.ts'
import { adoptConfirmation, FailureError, RefusalError } from '../errors.ts'
import { driftDiff, tablesTarget, withModuleEngine } from '../engine/module.ts'
import { readOwnHistory } from '../history/owner.ts'
import { expectedCatalog } from '../verify/expected.ts'
import { baselineChecksum } from '../baseline/baseline.ts'
import { BaselineMissingError } from '../baseline/errors.ts'
import { assertOwnDatabase } from '../guard/guard.ts'
import { backupTables, criticalTables, sourceOf } from './backup.ts'
import { classifyDatabase, type Classification } from './classify.ts'
import { planPrismaSteps } from './plan.ts'
import { compareFingerprints, fingerprints, type TableProof } from './proof.ts'
import { reconcileSteps, sequenceSteps } from './reconcile.ts'
import type { ForeignStep, PlanStep } from './steps.ts'
import { moduleFlags } from '../modules.ts'

export class BaselineTamperedError extends FailureError {
  constructor(t: ModuleTarget, recorded: string) {
    super(
      `${t.module.name}: the 0_baseline row in ${t.pgSchema}._prisma_migrations has checksum ${recorded.slice(0, 12)}…, not the committed baseline's: find out who changed it, then npx artstore-db verify --module ${t.module.name}`,
    )
  }
}

export class AdoptHistoryError extends RefusalError {
  constructor(t: ModuleTarget, failed: readonly string[], twice: readonly string[]) {
    const what = failed.length ? `a failed migration (${failed.join(', ')})` : `a migration recorded twice (${twice.join(', ')})`
    super(
      `${t.module.name}: ${t.pgSchema}._prisma_migrations holds ${what}, so the database is Prisma's already: settle it (npx artstore-db resolve ${moduleFlags(t.module)} --applied|--rolled-back <migration>, see README "Recovering from a failed migration"), then npx artstore-db verify`,
    )
  }
}

export interface AdoptOptions extends CommandOptions {
  /** Apply the plan. Without it (and without dryRun) the library refuses. */
  yes?: boolean
  /** Run the whole plan and its proof inside a transaction, then roll it back. */
  dryRun?: boolean
  /** How long to wait for another adopt or migrate deploy on the same database; default 60 s. */
  lockWaitSeconds?: number
  /** Where the archives are whose manifest records the retired revision; default the project's prisma/. */
  archiveRoot?: string
  /** The longest lock_timeout of one try of the adoption (a duration); default ARTSTORE_LOCK_TIMEOUT, else 50 ms. */
  lockTimeout?: string
  /** How long the tries of the adoption may go on (a duration); default ARTSTORE_LOCK_RETRY_FOR, else 3 min. */
  lockRetryFor?: string
  /** Told of each try that ran out of its lock_timeout (the CLI shows it on a terminal). */
  onLockWait?: (w: LockWait) => void
}

export type AdoptStatus = 'adopted' | 'would-adopt' | 'already-adopted' | 'empty' | 'refused' | 'failed'

export interface AdoptReport extends ReturnType<typeof describeTarget> {
  status: AdoptStatus
  classification: Omit<Classification, 'recordedChecksum'>
  steps: PlanStep[]
  foreign: ForeignStep[]
  /** Rows and content hash per module table, before and after (in the same transaction). */
  proof: TableProof[]
  /** Checklist items that did not hold after the plan ran (the transaction was then rolled back). */
  failedChecks: CheckItem[]
  /** The backup folder of the critical data (not with dryRun). */
  backup?: string
  /** The archive whose manifest now records the retired Alembic revision. */
  archive?: string
  /** Every statement, in order, as run (or as it would run). */
  sql: string
  /** Migrations after the baseline that the database has not applied yet: `deploy` applies them. */
  pending: string[]
  /** Tries that waited for a lock longer than their lock_timeout, when any did. */
  lockWaits?: LockWaits
  /** `failed` because the budget was spent before the adoption got its locks: nothing was changed; whom it waited for, and the next command. */
  locksNotGranted?: { blockers: Blocker[]; next: string }
}

/** What the adoption's transaction found: refused (a dangerous step), or the proof and the checks. */
interface ApplyOutcome {
  /** The steps it ran after Prisma's (reconcile, sequences, history), as they ran. */
  more: PlanStep[]
  refused: boolean
  proof: TableProof[]
  failedChecks: CheckItem[]
  /** Every table's rows and content the same, and the catalog the baseline's. */
  proved: boolean
}

/** A SQL string literal (the revisions come from the database, so they are quoted, never trusted). */
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`

const historySteps = (checksum: string, c: Classification, historySchema?: string): PlanStep[] => {
  // The shared layout keeps the instance's history in a schema of its own, beside the others'.
  const table = historySchema ? `${quoteIdent(historySchema)}."_prisma_migrations"` : '"_prisma_migrations"'
  return [
    ...(historySchema
      ? [
          {
            kind: 'History',
            sql: `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(historySchema)};`,
            safety: 'safe' as const,
            reason: "the instance's history schema",
          },
        ]
      : []),
    {
      kind: 'History',
      sql: `CREATE TABLE IF NOT EXISTS ${table} (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
);`,
      safety: 'safe',
      reason: "Prisma's history table",
    },
    {
      kind: 'History',
      sql: `INSERT INTO ${table} ("id", "checksum", "finished_at", "migration_name", "logs", "started_at", "applied_steps_count")
VALUES ('${randomUUID()}', '${checksum}', now(), '${BASELINE_NAME}', ${literal(
        c.versionTable ? `adopted by artstore-db from Alembic ${c.versionTable} = ${c.revisions.join(', ')} (${c.generation})` : 'adopted by artstore-db',
      )}, now(), 1);`,
      safety: 'safe',
      reason: 'mark the baseline applied, with the checksum migrate deploy expects',
    },
    ...(c.versionTable
      ? [
          {
            kind: 'RetireAlembic',
            sql: `DROP TABLE ${quoteIdent(c.versionTable)};`,
            table: c.versionTable,
            safety: 'safe' as const,
            reason: `retire Alembic (revision ${c.revisions.join(', ')})`,
          },
        ]
      : []),
  ]
}

/** What one try of the adoption works from: the classification, the expected catalog, Prisma's steps and the baseline's checksum. */
interface AdoptionPlan {
  cls: Classification
  expected: Catalog
  prisma: Awaited<ReturnType<typeof planPrismaSteps>>
  checksum: string
}

/**
 * One try of the adoption, in one transaction with a lock_timeout of `timeout` ms: Prisma's steps, the
 * reconciling, sequence and history steps, then the proof (rows and content of every table, and the
 * catalog); committed only when everything holds and it is no dry run.
 */
function applyPlan(c: pg.ClientBase, t: ModuleTarget, plan: AdoptionPlan, timeout: number, dryRun: boolean) {
  const { cls, expected, prisma, checksum } = plan
  return withDecidedTransaction<ApplyOutcome>(c, async () => {
    await c.query(`set local lock_timeout = '${timeout}ms'`)
    const before = await fingerprints(c, t.pgSchema, cls.moduleTables)
    for (const s of prisma.steps) await c.query(s.sql)
    const afterPrisma = withoutTables(await readCatalog(c, t.pgSchema), cls.foreignTables)
    const tablesNow = expected.tables.filter((x) => afterPrisma.tables.includes(x))
    const more = [
      ...reconcileSteps(expected, afterPrisma, readExtras(t.module), tablesNow),
      ...sequenceSteps(expected, tablesNow),
      ...historySteps(checksum, cls, t.module.historySchema),
    ]
    if (more.some((s) => s.safety === 'dangerous')) return { commit: false, value: { more, refused: true, proof: [], failedChecks: [], proved: false } }
    for (const s of more) await c.query(s.sql)
    const proof = compareFingerprints(before, await fingerprints(c, t.pgSchema, cls.moduleTables))
    const final = withoutTables(await readCatalog(c, t.pgSchema), cls.foreignTables)
    const failedChecks = compareCatalogs(expected, final, ['_prisma_migrations'], 'required').filter((i) => !i.ok)
    const proved = proof.every((p) => p.ok) && failedChecks.length === 0
    return { commit: proved && !dryRun, value: { more, refused: false, proof, failedChecks, proved } }
  })
}

const publicClassification = ({ recordedChecksum: _, ...rest }: Classification) => rest

/**
 * Adopts one module's existing database in place: classify it, plan the changes to the baseline,
 * refuse dangerous ones, then in one transaction under the migration lock run the plan, mark the
 * baseline applied, retire Alembic, and prove it: the catalog matches the baseline object by object
 * and every table has the same rows and content. Anything else rolls the transaction back.
 */
export async function adoptModule(
  t: ModuleTarget,
  opts: Pick<AdoptOptions, 'yes' | 'dryRun' | 'lockWaitSeconds' | 'archiveRoot' | 'env' | 'lockTimeout' | 'lockRetryFor' | 'onLockWait'>,
): Promise<AdoptReport> {
  if (!opts.yes && !opts.dryRun) throw adoptConfirmation()
  const baselineSql = readCommittedBaseline(t.module).up
  const checksum = baselineChecksum(t.module)
  if (baselineSql === undefined || checksum === undefined) throw new BaselineMissingError(t.module.name)
  return withClient(t, async (c) => {
    await assertOwnDatabase(c, t)
    // Prisma's migration lock for the whole adoption: adopts, deploys and rollbacks wait for each other.
    return withSessionMigrationLock(
      c,
      async () => {
        const expected = await expectedCatalog(c, [baselineSql])
        const live = await readCatalog(c, t.pgSchema)
        const cls = await classifyDatabase(c, t.module, t.pgSchema, live, expected.tables, checksum, t.module.historySchema)
        const history = await readOwnHistory(c, t)
        const rows = history.filter((m) => !m.rolledBack)
        const failed = rows.filter((m) => !m.finished).map((m) => m.name)
        const twice = rows.map((m) => m.name).filter((n, i, all) => all.indexOf(n) !== i)
        if (failed.length || twice.length) throw new AdoptHistoryError(t, failed, twice)
        const applied = new Set(rows.filter((m) => m.finished).map((m) => m.name))
        const pendingAfterBaseline = laterMigrations(t.module).filter((m) => !applied.has(m))
        const report = (status: AdoptStatus, extra: Partial<AdoptReport> = {}): AdoptReport => ({
          ...describeTarget(t),
          status,
          classification: publicClassification(cls),
          steps: [],
          foreign: [],
          proof: [],
          failedChecks: [],
          sql: '',
          pending: status === 'adopted' || status === 'would-adopt' || status === 'already-adopted' ? pendingAfterBaseline : [],
          ...extra,
        })
        if (cls.kind === 'tampered') throw new BaselineTamperedError(t, cls.recordedChecksum!)
        if (cls.kind === 'managed') return report('already-adopted')
        if (cls.kind === 'empty') return report('empty')

        // With later migrations, the schema file is ahead of the baseline: adopt aims at the baseline
        // itself (replayed by the engine), and deploy applies the rest.
        const later = laterMigrations(t.module)
        const tables = tablesTarget(t)
        const drift = await withModuleEngine(tables, (e) => driftDiff(e, tables, later.length ? { upTo: [BASELINE_NAME] } : {}))
        // Replayed from the baseline, the engine spells the default precision out (TIMESTAMPTZ(6)) in
        // the tables it creates, where 0_baseline writes none: the catalog would then differ from the
        // baseline's (timestamp(6) with time zone), and the proof refuse. Written as 0_baseline does.
        const script = later.length ? drift.output.replace(/\b(TIMESTAMPTZ|TIMESTAMP|TIMETZ|TIME)\(6\)/g, '$1') : drift.output
        const prisma = await planPrismaSteps(script, live, t.pgSchema, expected.tables, c)
        if (prisma.steps.some((s) => s.safety === 'dangerous')) {
          return report('refused', { steps: prisma.steps, foreign: prisma.foreign, sql: prisma.steps.map((s) => s.sql).join('\n') })
        }
        const backup = opts.dryRun
          ? undefined
          : await backupTables(c, t.module, t.pgSchema, criticalTables(t.module, cls.moduleTables), sourceOf(t.url, t.pgSchema, t.module))

        // Lock timeouts with retries (see src/db/lock-retry.ts): each try is the whole transaction with a
        // short lock_timeout; one that runs out is rolled back whole and tried again.
        const flags = moduleFlags(t.module)
        const again = `npx artstore-db adopt ${flags} ${opts.dryRun ? '--dry-run' : '--yes'}`
        let tried: Awaited<ReturnType<typeof withCommandLockRetries<{ committed: boolean; value: ApplyOutcome }>>>
        try {
          tried = await withCommandLockRetries(
            c,
            (fn) => withClient(t, fn),
            lockRetrySettings(opts),
            { migration: BASELINE_NAME, gaveUp: (w) => new LocksNotGrantedError(`the adoption of the ${t.module.name} module`, w, again) },
            (timeout) => applyPlan(c, t, { cls, expected, prisma, checksum }, timeout, !!opts.dryRun),
          )
        } catch (e) {
          if (!(e instanceof LocksNotGrantedError)) throw e
          // Every try was rolled back: nothing of the plan ran (the backup, taken before, stays).
          const sql = prisma.steps.map((s) => s.sql).join('\n')
          const locksNotGranted = { blockers: e.blockers, next: e.message }
          return report('failed', { steps: prisma.steps, foreign: prisma.foreign, sql, ...(backup ? { backup } : {}), locksNotGranted })
        }
        const { committed, value: outcome } = tried.value
        const waited = tried.waits.length ? { lockWaits: lockWaitsOf(tried.waits) } : {}
        const steps: PlanStep[] = [...prisma.steps, ...outcome.more]
        const sql = steps.map((s) => s.sql).join('\n')
        if (outcome.refused) return report('refused', { steps, foreign: prisma.foreign, sql, ...waited })
        const base = { steps, foreign: prisma.foreign, proof: outcome.proof, failedChecks: outcome.failedChecks, sql, ...(backup ? { backup } : {}), ...waited }
        if (!committed) {
          // Rolled back: a dry run that proved everything, or a proof that did not hold.
          const status: AdoptStatus = opts.dryRun && outcome.proved ? 'would-adopt' : 'failed'
          return report(status, base)
        }
        const archive = cls.versionTable
          ? recordRetiredVersion(
              t.module.name,
              {
                pgSchema: t.pgSchema,
                versionTable: cls.versionTable,
                revisions: cls.revisions,
                generation: cls.generation ?? 'unknown',
                adoptedAt: new Date().toISOString().slice(0, 10),
              },
              opts.archiveRoot,
            )
          : undefined
        return report('adopted', { ...base, ...(archive ? { archive } : {}) })
      },
      opts.lockWaitSeconds ?? 60,
    )
  })
}

/** `adopt`: each selected module's database, one after another. */
export function adopt(opts: AdoptOptions): Promise<AdoptReport[]> {
  if (!opts.yes && !opts.dryRun) throw adoptConfirmation()
  lockRetrySettings(opts) // bad durations refused before anything is read
  return withCheckedTargets(opts, async (targets) => {
    const out: AdoptReport[] = []
    for (const t of targets) out.push(await adoptModule(t, opts))
    return out
  })
}
