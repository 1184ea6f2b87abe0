import type pg from 'pg'
import { compareCatalogs, withoutTables } from '../catalog/compare.ts'
import type { Catalog } from '../catalog/read.ts'
import { readCatalog } from '../catalog/read.ts'
import { MIGRATION_LOCK_KEY } from '../db/lock.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { withModuleEngine } from '../engine/module.ts'
import { readMigrationFolders, type MigrationFolder } from '../history/history.ts'
import type { ModuleStatus } from '../status/status.ts'
import { historySchemaOf, progressOf } from '../backfill/progress.ts'
import { readMigrationHeader } from '../migrate/header.ts'
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

/**
 * A migration whose deploy died on the way (killed, its connection cut) leaves its history row
 * unfinished with no error logged, and every later deploy refuses (P3009). Whether its transaction
 * committed (a blocked backend carries on after its client is gone) is read off the catalog, with no
 * deploy running (the migration lock is free): the history up to and including it → marked applied;
 * the history before it → marked rolled back, and deploy runs it again. Anything else (an error was
 * logged, the catalog is neither) is left for a person, with `status` and `resolve`.
 *
 * A batched backfill (`-- artstore: batched`) is marked rolled back, and deploy runs it again: it goes
 * on from the progress its committed batches recorded (see src/backfill/run.ts), redoing none of them.
 *
 * An index is never taken for applied while it is INVALID: a CREATE INDEX CONCURRENTLY interrupted
 * after it made its catalog entry leaves one with the wanted definition, which no query uses. Such
 * indexes of the migration are dropped (CONCURRENTLY, so no writer waits), the catalog is then the one
 * before it, and deploy builds them again by running the migration.
 */
export async function recoverInterrupted(t: ModuleTarget, status: ModuleStatus): Promise<Recovery | undefined> {
  if (status.failed.length !== 1) return undefined
  const [migration] = status.failed
  const history = readMigrationFolders(t.module.migrationsDir)
  const at = history.findIndex((m) => m.name === migration)
  if (at < 0) return undefined
  const settled = await withClient(t, async (c): Promise<Omit<Recovery, 'migration'> | undefined> => {
    const { rows: lock } = await c.query<{ free: boolean }>('select pg_try_advisory_lock($1) as free', [MIGRATION_LOCK_KEY])
    if (!lock[0].free) return undefined // a deploy is running it right now
    try {
      // Read under the lock: a deploy that held it a moment ago may have finished the row since.
      const { rows } = await c.query<{ logs: string | null }>(
        `select logs from _prisma_migrations where migration_name = $1 and finished_at is null and rolled_back_at is null`,
        [migration],
      )
      if (rows.length !== 1 || rows[0].logs !== null) return undefined // finished since, or a logged failure (a person's to settle)
      if (readMigrationHeader(history[at].up).batched !== undefined) {
        // A batched backfill changes rows, not the catalog: its progress says where it stopped.
        const progress = await progressOf(c, await historySchemaOf(c), migration)
        return { as: 'resumed', ...(progress ? { progress } : {}) }
      }
      const around = await catalogsAround(c, t, history, at)
      const { after, before, created } = around
      let actual = await around.live()
      const invalid = actual.indexes.filter((i) => !i.valid && created.has(i.name)).map((i) => i.name)
      if (!invalid.length) return matches(after, actual) ? { as: 'applied' } : matches(before, actual) ? { as: 'rolled-back' } : undefined
      if (!matches(after, actual)) return undefined // more than its index is off: a person's to settle
      for (const name of invalid) await c.query(`drop index concurrently if exists ${quoteIdent(t.pgSchema)}.${quoteIdent(name)}`)
      actual = await around.live()
      return matches(before, actual) ? { as: 'rolled-back', droppedInvalid: invalid } : undefined
    } finally {
      await c.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  })
  if (!settled) return undefined
  await withModuleEngine(t, (e) =>
    settled.as === 'applied' ? e.markMigrationApplied(t.module.migrationsDir, migration) : e.markMigrationRolledBack(migration),
  )
  return { migration, ...settled }
}
