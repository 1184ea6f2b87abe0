import { compareCatalogs, withoutTables } from '../catalog/compare.ts'
import type { Catalog } from '../catalog/read.ts'
import { readCatalog } from '../catalog/read.ts'
import { MIGRATION_LOCK_KEY } from '../db/lock.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { withModuleEngine } from '../engine/module.ts'
import { readMigrationFolders } from '../history/history.ts'
import type { ModuleStatus } from '../status/status.ts'
import { expectedCatalog } from '../verify/expected.ts'

/** How an interrupted migration was settled, from what the database shows. */
export interface Recovery {
  migration: string
  /** `applied`: its transaction had committed; `rolled-back`: it had not, and deploy runs it again. */
  as: 'applied' | 'rolled-back'
}

const matches = (expected: Catalog, actual: Catalog) => compareCatalogs(expected, actual, ['_prisma_migrations'], 'required').every((i) => i.ok)

/**
 * A migration whose deploy died on the way (killed, its connection cut) leaves its history row
 * unfinished with no error logged, and every later deploy refuses (P3009). Whether its transaction
 * committed (a blocked backend carries on after its client is gone) is read off the catalog, with no
 * deploy running (the migration lock is free): the history up to and including it → marked applied;
 * the history before it → marked rolled back, and deploy runs it again. Anything else (an error was
 * logged, the catalog is neither) is left for a person, with `status` and `resolve`.
 */
export async function recoverInterrupted(t: ModuleTarget, status: ModuleStatus): Promise<Recovery | undefined> {
  if (status.failed.length !== 1) return undefined
  const [migration] = status.failed
  const history = readMigrationFolders(t.module.migrationsDir)
  const at = history.findIndex((m) => m.name === migration)
  if (at < 0) return undefined
  const as = await withClient(t, async (c): Promise<Recovery['as'] | undefined> => {
    const { rows: lock } = await c.query<{ free: boolean }>('select pg_try_advisory_lock($1) as free', [MIGRATION_LOCK_KEY])
    if (!lock[0].free) return undefined // a deploy is running it right now
    try {
      // Read under the lock: a deploy that held it a moment ago may have finished the row since.
      const { rows } = await c.query<{ logs: string | null }>(
        `select logs from _prisma_migrations where migration_name = $1 and finished_at is null and rolled_back_at is null`,
        [migration],
      )
      if (rows.length !== 1 || rows[0].logs !== null) return undefined // finished since, or a logged failure (a person's to settle)
      const after = await expectedCatalog(
        c,
        history.slice(0, at + 1).map((m) => m.up),
      )
      const before = await expectedCatalog(
        c,
        history.slice(0, at).map((m) => m.up),
      )
      const live = await readCatalog(c, t.pgSchema)
      const own = new Set([...after.tables, ...before.tables, '_prisma_migrations'])
      const actual = withoutTables(
        live,
        live.tables.filter((x) => !own.has(x)),
      )
      return matches(after, actual) ? 'applied' : matches(before, actual) ? 'rolled-back' : undefined
    } finally {
      await c.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  })
  if (!as) return undefined
  await withModuleEngine(t, (e) => (as === 'applied' ? e.markMigrationApplied(t.module.migrationsDir, migration) : e.markMigrationRolledBack(migration)))
  return { migration, as }
}
