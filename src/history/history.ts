import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'

/** A migration folder on disk, as `migrate deploy` sees it. */
export interface LocalMigration {
  name: string
  /** sha256 of migration.sql, hex: the checksum Prisma stores in `_prisma_migrations`. */
  checksum: string
}

/** One row of the module's `_prisma_migrations` table. */
export interface AppliedMigration {
  name: string
  checksum: string
  finished: boolean
  rolledBack: boolean
}

/** The names of a module's migration folders (those with a migration.sql), in the order Prisma applies them. */
function migrationNames(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
}

const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** The migration folders of a module, in the order Prisma applies them (by name). */
export function readLocalMigrations(dir: string): LocalMigration[] {
  return migrationNames(dir).map((name) => ({ name, checksum: sha256Of(fs.readFileSync(path.join(dir, name, 'migration.sql'))) }))
}

/**
 * The rows of `_prisma_migrations` in the client's search_path (the module's schema), oldest first;
 * an empty list when the table does not exist yet.
 */
export async function readAppliedMigrations(client: pg.ClientBase): Promise<AppliedMigration[]> {
  const { rows: exists } = await client.query(`select to_regclass('_prisma_migrations') is not null as present`)
  if (!exists[0].present) return []
  const { rows } = await client.query<{ migration_name: string; checksum: string; finished: boolean; rolled_back: boolean }>(
    `select migration_name, checksum, finished_at is not null as finished, rolled_back_at is not null as rolled_back
       from _prisma_migrations order by started_at, migration_name`,
  )
  return rows.map((r) => ({ name: r.migration_name, checksum: r.checksum, finished: r.finished, rolledBack: r.rolled_back }))
}

export type HistoryState = 'up-to-date' | 'pending' | 'failed' | 'modified' | 'diverged'

export interface HistoryComparison {
  state: HistoryState
  applied: string[]
  pending: string[]
  /** Started but never finished, and not rolled back: `migrate deploy` refuses until resolved. */
  failed: string[]
  /** Applied, but migration.sql changed since. */
  modified: string[]
  /** Recorded in the database, missing on disk. */
  unknown: string[]
}

/** Compares the folders on disk with the database's history; the state is the most serious finding. */
export function compareHistory(local: readonly LocalMigration[], applied: readonly AppliedMigration[]): HistoryComparison {
  const live = applied.filter((a) => !a.rolledBack)
  const done = new Map(live.filter((a) => a.finished).map((a) => [a.name, a]))
  const failed = live.filter((a) => !a.finished).map((a) => a.name)
  const localNames = new Set(local.map((l) => l.name))
  const result: HistoryComparison = {
    state: 'up-to-date',
    applied: local.filter((l) => done.has(l.name)).map((l) => l.name),
    pending: local.filter((l) => !done.has(l.name) && !failed.includes(l.name)).map((l) => l.name),
    failed,
    modified: local.filter((l) => done.has(l.name) && done.get(l.name)!.checksum !== l.checksum).map((l) => l.name),
    unknown: [...done.keys()].filter((n) => !localNames.has(n)),
  }
  result.state = result.failed.length
    ? 'failed'
    : result.unknown.length
      ? 'diverged'
      : result.modified.length
        ? 'modified'
        : result.pending.length
          ? 'pending'
          : 'up-to-date'
  return result
}

/** A migration folder with its scripts: what is applied (`up`) and, after the baseline too, what reverts it. */
export interface MigrationFolder extends LocalMigration {
  /** Absolute path of the folder. */
  dir: string
  /** migration.sql. */
  up: string
  /** down.sql, when the folder has one. */
  down?: string
}

/** Every migration folder of a module with its scripts, in the order Prisma applies them. */
export function readMigrationFolders(dir: string): MigrationFolder[] {
  return migrationNames(dir).map((name) => {
    const folder = path.join(dir, name)
    const downFile = path.join(folder, 'down.sql')
    const up = fs.readFileSync(path.join(folder, 'migration.sql'))
    return {
      name,
      checksum: sha256Of(up),
      dir: folder,
      up: up.toString('utf8'),
      ...(fs.existsSync(downFile) ? { down: fs.readFileSync(downFile, 'utf8') } : {}),
    }
  })
}
