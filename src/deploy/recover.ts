import type pg from 'pg'
import { compareCatalogs, withoutTables } from '../catalog/compare.ts'
import type { Catalog } from '../catalog/read.ts'
import { readCatalog } from '../catalog/read.ts'
import { MIGRATION_LOCK_KEY, migrationLockHolder } from '../db/lock.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { withModuleEngine } from '../engine/module.ts'
import { readMigrationFolders, type MigrationFolder } from '../history/history.ts'
import type { ModuleStatus } from '../status/status.ts'
import { historySchemaOf, progressOf } from '../backfill/progress.ts'
import { readMigrationHeader, runsOutsideTransaction } from '../migrate/header.ts'
import { expectedCatalog } from '../verify/expected.ts'

/** How an interrupted migration was settled, from what the database shows. */
export interface Recovery {
  migration: string
  /**
   * `applied`: its transaction had committed; `rolled-back`: it had not, and deploy runs it again;
   * `resumed`: a batched backfill, marked rolled back, and deploy goes on from its last committed batch.
   */
  as: 'applied' | 'rolled-back' | 'resumed'
  /** For `resumed`: what its committed batches had done (none when it had committed none). */
  progress?: { batches: number; walked: number; changed: number; lastKey?: string }
  /**
   * The indexes it creates that its interrupted CREATE INDEX CONCURRENTLY had left INVALID: dropped
   * (DROP INDEX CONCURRENTLY), so that it is marked rolled back and deploy builds them again.
   */
  droppedInvalid?: string[]
}

/** The catalogs compare equal (definitions only: an INVALID index matches its valid self). */
export const matches = (expected: Catalog, actual: Catalog) => compareCatalogs(expected, actual, ['_prisma_migrations'], 'required').every((i) => i.ok)

/**
 * The catalog the history builds up to and including its migration `at` (`after`), the one before it
 * (`before`), the indexes that migration creates, and a reader of the live schema without the tables
 * that are not the module's.
 */
export async function catalogsAround(c: pg.ClientBase, t: ModuleTarget, history: readonly MigrationFolder[], at: number) {
  const after = await expectedCatalog(
    c,
    history.slice(0, at + 1).map((m) => m.up),
  )
  const before = await expectedCatalog(
    c,
    history.slice(0, at).map((m) => m.up),
  )
  const own = new Set([...after.tables, ...before.tables, '_prisma_migrations'])
  const created = new Set(after.indexes.filter((i) => !before.indexes.some((b) => b.name === i.name)).map((i) => i.name))
  const live = async () => {
    const cat = await readCatalog(c, t.pgSchema)
    return withoutTables(
      cat,
      cat.tables.filter((x) => !own.has(x)),
    )
  }
  return { after, before, created, live }
}

/** What deploy does with an interrupted migration: how it settles it, before going on. */
export type Settlement = Omit<Recovery, 'migration'>

/**
 * What the next deploy makes of a module's unfinished migration, read-only (deploy and status both
 * decide by it, see recoverInterrupted): `settles` it as the database shows it, or finds a deploy
 * `running` it (a session holds the migration lock or the deploy turn), or leaves it for a `person`
 * (an error was logged, more than one is unfinished, the history changed, the catalog is neither
 * the one before it nor the one after it, or it is a data migration that ran outside a transaction).
 */
export type InterruptedVerdict =
  | { migration: string; verdict: 'settles'; settle: Settlement }
  | { migration: string; verdict: 'running'; pid?: number }
  | { migration: string; verdict: 'person'; reason?: UndecidableReason }

/**
 * Why an unfinished migration is a person's although no error was logged and the catalog is one of
 * the two: `rows-outside-transaction`, it ran outside a transaction (`-- artstore: no-transaction`)
 * and changes only rows, so the catalog is the same before and after it and nothing in the database
 * shows which of its statements committed.
 */
export type UndecidableReason = 'rows-outside-transaction'

/** What to do with a migration deploy leaves undecided, and why, as status and deploy name it; `args` is `--module m [--prefix p]`. */
export function undecidedNext(migration: string, reason: UndecidableReason, args: string): string {
  const why = {
    'rows-outside-transaction': `${migration} runs outside a transaction and changes only rows, so the database cannot show how far it got (deploy leaves it to you)`,
  }[reason]
  return `${why}: check which of its changes are there and finish or undo them by hand, then npx artstore-db resolve ${args} --applied ${migration} (all of it there) or --rolled-back ${migration} (none of it, for deploy to run it again); see README "Recovering from a failed migration"`
}

/**
 * The judgement of recoverInterrupted on `c`, changing nothing. An unfinished row is interrupted only
 * when no session is running it: deploy judges holding the migration lock; a reader (status, verify)
 * gives `lockHolder`, which names the backend holding it. An INVALID index of the migration is judged
 * as deploy leaves the catalog once it has dropped it.
 */
export async function judgeInterrupted(
  c: pg.ClientBase,
  t: ModuleTarget,
  status: ModuleStatus,
  lockHolder: () => Promise<number | undefined> = async () => undefined,
): Promise<InterruptedVerdict | undefined> {
  return (await judged(c, t, status, lockHolder))?.verdict
}

type Around = Awaited<ReturnType<typeof catalogsAround>>

/** judgeInterrupted's verdict, with the catalogs it was judged against (when it read them), for deploy to act on. */
async function judged(
  c: pg.ClientBase,
  t: ModuleTarget,
  status: ModuleStatus,
  lockHolder: () => Promise<number | undefined>,
): Promise<{ verdict: InterruptedVerdict; around?: Around } | undefined> {
  if (status.state !== 'failed') return undefined
  const [migration] = status.failed
  const person = { verdict: { migration, verdict: 'person' } } as const
  const history = readMigrationFolders(t.module.migrationsDir)
  const at = history.findIndex((m) => m.name === migration)
  // Deploy refuses a history that changed (historyProblem) before it looks at the unfinished row.
  if (status.failed.length !== 1 || at < 0 || status.modified.length || status.unknown.length) return person
  const { rows } = await c.query<{ logs: string | null }>(
    `select logs from _prisma_migrations where migration_name = $1 and finished_at is null and rolled_back_at is null`,
    [migration],
  )
  if (rows.length !== 1 || rows[0].logs !== null) return person // finished since, or a logged failure (a person's to settle)
  const pid = await lockHolder()
  if (pid !== undefined) return { verdict: { migration, verdict: 'running', pid } }
  if (readMigrationHeader(history[at].up).batched !== undefined) {
    // A batched backfill changes rows, not the catalog: its progress says where it stopped.
    const progress = await progressOf(c, await historySchemaOf(c), migration)
    return { verdict: { migration, verdict: 'settles', settle: { as: 'resumed', ...(progress ? { progress } : {}) } } }
  }
  const around = await catalogsAround(c, t, history, at)
  const settles = (settle: Settlement) => ({ verdict: { migration, verdict: 'settles', settle } as const, around })
  const { after, before, created } = around
  const actual = await around.live()
  const invalid = actual.indexes.filter((i) => !i.valid && created.has(i.name)).map((i) => i.name)
  if (invalid.length) {
    if (!matches(after, actual)) return person // more than its index is off: a person's to settle
    const dropped = { ...actual, indexes: actual.indexes.filter((i) => !invalid.includes(i.name)) }
    return matches(before, dropped) ? settles({ as: 'rolled-back', droppedInvalid: invalid }) : person
  }
  // A data migration (INSERT, UPDATE, DELETE): the catalog is the same before and after it.
  const rowsOnly = matches(before, after) && matches(after, before)
  if (runsOutsideTransaction(history[at].up)) {
    // What committed stays: for a data migration the catalog cannot show how far it got.
    if (rowsOnly) return { verdict: { ...person.verdict, reason: 'rows-outside-transaction' } }
    return matches(after, actual) ? settles({ as: 'applied' }) : matches(before, actual) ? settles({ as: 'rolled-back' }) : person
  }
  // In one transaction with its row marked finished in it (src/engine/script.ts): an unfinished row
  // means that transaction never committed, and nothing of it is in the database, rows included.
  if (matches(before, actual)) return settles({ as: 'rolled-back' })
  // The catalog after a migration that changes it, under an unfinished row: only a runner that marks
  // the row finished after the commit leaves that (Prisma's native engine, this tool before its
  // deploys did so in the migration's transaction), killed in between. One transaction: all of it
  // had committed.
  return !rowsOnly && matches(after, actual) ? settles({ as: 'applied' }) : person
}

/** An unfinished migration recoverInterrupted leaves as it is, for a person: nothing shows what of it ran. */
export interface Undecided {
  migration: string
  undecided: UndecidableReason
}

/**
 * A migration whose deploy died on the way (killed, its connection cut) leaves its history row
 * unfinished with no error logged, and every later deploy refuses (P3009). Whether its transaction
 * committed (a blocked backend carries on after its client is gone) is judged with no deploy running
 * (the migration lock is free):
 *
 * - A migration in one transaction: its runner marks the row finished inside that transaction (deploy
 *   and `prisma migrate deploy` through the bridge, src/engine/script.ts), so an unfinished row means
 *   it never committed: the catalog before it → marked rolled back, and deploy runs it again, a data
 *   migration (its catalog the same before and after) too. The catalog after it (one that changes
 *   the catalog) → marked applied: all of its one transaction had committed, and only the row's
 *   completion was lost, as Prisma's native engine and this tool's releases before 2026-12-03
 *   (488af50) left it, finishing the row after the commit.
 * - A migration outside a transaction (`-- artstore: no-transaction`, a lone CONCURRENTLY
 *   statement): what it committed stays. The catalog after it → marked applied, the one before it →
 *   rolled back; a data migration, whose catalog tells nothing, is left for a person.
 *
 * Anything else (an error was logged, the catalog is neither) is left for a person, with `status` and
 * `resolve`.
 *
 * A batched backfill (`-- artstore: batched`) is marked rolled back, and deploy runs it again: it goes
 * on from the progress its committed batches recorded (see src/backfill/run.ts), redoing none of them.
 *
 * An index is never taken for applied while it is INVALID: a CREATE INDEX CONCURRENTLY interrupted
 * after it made its catalog entry leaves one with the wanted definition, which no query uses. Such
 * indexes of the migration are dropped (CONCURRENTLY, so no writer waits), the catalog is then the one
 * before it, and deploy builds them again by running the migration.
 *
 * The judgement is judgeInterrupted's, which status gives as its next command. Returns what it
 * settled, or the migration it leaves to a person and why when the database cannot show what of it
 * ran (deploy's failure names the fix, undecidedNext).
 */
export async function recoverInterrupted(t: ModuleTarget, status: ModuleStatus): Promise<Recovery | Undecided | undefined> {
  const settled = await withClient(t, async (c): Promise<InterruptedVerdict | undefined> => {
    const { rows: lock } = await c.query<{ free: boolean }>('select pg_try_advisory_lock($1) as free', [MIGRATION_LOCK_KEY])
    if (!lock[0].free) return undefined // a deploy is running it right now
    try {
      // Judged under the lock: a deploy that held it a moment ago may have finished the row since.
      const j = await judged(c, t, status, async () => undefined)
      const verdict = j?.verdict
      if (verdict?.verdict !== 'settles' || !verdict.settle.droppedInvalid || !j?.around) return verdict
      for (const name of verdict.settle.droppedInvalid) await c.query(`drop index concurrently if exists ${quoteIdent(t.pgSchema)}.${quoteIdent(name)}`)
      // What the judgement foresaw, read again: the live catalog is now the one before the migration.
      return matches(j.around.before, await j.around.live()) ? verdict : undefined
    } finally {
      await c.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  })
  if (settled?.verdict === 'person' && settled.reason) return { migration: settled.migration, undecided: settled.reason }
  if (settled?.verdict !== 'settles') return undefined
  const { migration, settle } = settled
  await withModuleEngine(t, (e) => (settle.as === 'applied' ? e.markMigrationApplied(t.module.migrationsDir, migration) : e.markMigrationRolledBack(migration)))
  return { migration, ...settle }
}

/** What the next deploy makes of the module's unfinished migration, as status and verify report it: read-only, no lock taken. */
export function foreseeRecovery(c: pg.ClientBase, t: ModuleTarget, status: ModuleStatus): Promise<InterruptedVerdict | undefined> {
  return judgeInterrupted(c, t, status, () => migrationLockHolder(c))
}
