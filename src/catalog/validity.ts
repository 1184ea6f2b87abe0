import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import type { AppliedMigration, LocalMigration } from '../history/history.ts'
import type { ModuleTarget } from '../db/targets.ts'
import type { Catalog } from './read.ts'
import type { CheckItem } from './compare.ts'
import { moduleFlags } from '../modules.ts'

/**
 * An index PostgreSQL keeps but never uses for a query (pg_index.indisvalid or indisready false):
 * what an interrupted or failed CREATE INDEX CONCURRENTLY leaves behind (a unique one over duplicate
 * rows, a build cancelled while it waited for older transactions). Its definition is the wanted one,
 * so a comparison of definitions takes it for the real thing.
 */
export interface InvalidIndex {
  name: string
  table: string
  unique: boolean
  /** The migration whose migration.sql creates it, when one does. */
  migration?: string
  /** Where that migration stands in the history: what decides the fix. */
  migrationState?: 'applied' | 'failed' | 'not-applied'
  /** What puts it right, ending with the command to run. */
  fix: string
}

const createIndexName = /\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:"((?:[^"]|"")+)"|([\w$]+))/gi
const createTableName = /\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"((?:[^"]|"")+)"|([\w$]+))/gi
const namesOf = (sql: string, re: RegExp) => [...sql.matchAll(re)].map((m) => (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2].toLowerCase()))

/** The last migration of the history whose migration.sql creates the index `name`. */
export function migrationCreatingIndex(history: readonly { name: string; up: string }[], name: string): string | undefined {
  return [...history].reverse().find((m) => namesOf(m.up, createIndexName).includes(name))?.name
}

/** Every index and table name the history's migration.sql files create: what is the module's in a shared schema. */
export function historyObjects(history: readonly { up: string }[]): { indexes: Set<string>; tables: Set<string> } {
  return {
    indexes: new Set(history.flatMap((m) => namesOf(m.up, createIndexName))),
    tables: new Set(history.flatMap((m) => namesOf(m.up, createTableName))),
  }
}

/** The invalid indexes of a catalog (on the tables `own` accepts), without their fix. */
export const invalidIndexesOf = (cat: Catalog, own: (table: string) => boolean = () => true) =>
  cat.indexes.filter((i) => i.valid === false && own(i.table)).map((i) => ({ name: i.name, table: i.table, unique: i.unique }))

/** The invalid indexes of `schema`, read straight from pg_index (cheaper than a whole catalog, for status). */
export async function readInvalidIndexes(c: pg.ClientBase, schema: string): Promise<{ name: string; table: string; unique: boolean }[]> {
  const { rows } = await c.query<{ name: string; table: string; unique: boolean }>(
    `select i.relname as name, t.relname as table, x.indisunique as unique
       from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
       join pg_namespace n on n.oid = t.relnamespace
      where n.nspname = $1 and not (x.indisvalid and x.indisready) order by t.relname, i.relname`,
    [schema],
  )
  return rows
}

const instanceFlags = (t: ModuleTarget) => moduleFlags(t.module)

/**
 * The fix of one invalid index, by where the migration that creates it stands: applied → rebuilt in
 * place (REINDEX … CONCURRENTLY keeps its name and blocks no writer); failed → dropped, the migration
 * marked rolled back and deployed again; not applied → dropped, deploy builds it; no migration creates
 * it → dropped. A unique index first needs its duplicate rows gone. One of `droppedByDeploy` (its
 * migration was interrupted, see judgeInterrupted) is deploy's to drop and build again.
 */
export function describeInvalidIndex(
  t: ModuleTarget,
  index: { name: string; table: string; unique: boolean },
  history: readonly (LocalMigration & { up: string })[],
  rows: readonly AppliedMigration[],
  droppedByDeploy: readonly string[] = [],
): InvalidIndex {
  const migration = migrationCreatingIndex(history, index.name)
  const row = rows.find((r) => r.name === migration && !r.rolledBack)
  const migrationState = !migration ? undefined : !row ? 'not-applied' : row.finished ? 'applied' : 'failed'
  const qualified = `${quoteIdent(t.pgSchema)}.${quoteIdent(index.name)}`
  const duplicates = index.unique ? `remove the rows its key duplicates, then ` : ''
  const fix = droppedByDeploy.includes(index.name)
    ? `npx artstore-db deploy ${instanceFlags(t)} (${migration} was interrupted: deploy drops it and builds it again)`
    : !migration
      ? `no migration of the module creates it (a leftover of a failed REINDEX … CONCURRENTLY?): DROP INDEX CONCURRENTLY ${qualified}; then npx artstore-db verify ${instanceFlags(t)}`
      : migrationState === 'failed'
        ? `${duplicates}DROP INDEX CONCURRENTLY ${qualified}; then npx artstore-db resolve ${instanceFlags(t)} --rolled-back ${migration} and npx artstore-db deploy ${instanceFlags(t)} (it builds it again)`
        : migrationState === 'not-applied'
          ? `${duplicates}DROP INDEX CONCURRENTLY ${qualified}; then npx artstore-db deploy ${instanceFlags(t)} (it builds it again)`
          : `${duplicates}rebuild it: REINDEX INDEX CONCURRENTLY ${qualified}; then npx artstore-db verify ${instanceFlags(t)}`
  return { ...index, ...(migration ? { migration, migrationState } : {}), fix }
}

/** The checklist lines of index validity: one failing line per invalid index, or one passing line. */
export function indexValidityChecks(invalid: readonly InvalidIndex[]): CheckItem[] {
  if (!invalid.length) return [{ category: 'index', name: 'every index is valid (pg_index.indisvalid and indisready)', ok: true }]
  return invalid.map((i) => ({
    category: 'index',
    name: `${i.name} is valid (usable by queries)`,
    ok: false,
    expected: 'valid',
    actual: `INVALID on ${i.table}${i.migration ? ` (left by ${i.migration}: an interrupted or failed CREATE INDEX CONCURRENTLY)` : ''}: ${i.fix}`,
  }))
}
