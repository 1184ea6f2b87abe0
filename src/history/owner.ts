import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { UsageError } from '../errors.ts'
import { sharedHistorySchema } from '../prefix/layout.ts'
import { DEFAULT_PREFIX, renderPrefix } from '../prefix/prefix.ts'
import { readAppliedMigrations, type AppliedMigration } from './history.ts'

// Whose history a storage-element command has found. The services keep every instance in one schema
// (legacy-schema.md §9.1); run without STORAGE_ELEMENT_LAYOUT=shared, a second instance finds the
// first's `_prisma_migrations` there, whose 0_baseline (rendered for the first's prefix) differs from
// its own. That is another instance's history, never a changed migration, and every command that
// reads a history says so, in the same words, before it acts on it.

const BASELINE = '0_baseline'
type Layout = 'schema' | 'shared'

/**
 * The history a command found belongs to another instance, or sits where the other layout keeps it:
 * a configuration to fix (exit 2), with the layout that fits it.
 */
export class ForeignHistoryError extends UsageError {
  constructor(t: ModuleTarget, what: string, why: string, layout?: Layout) {
    const prefix = t.module.prefix ?? DEFAULT_PREFIX
    super(
      `storage-element instance ${prefix}: ${what}: ${why}; ${
        layout
          ? `run it in the ${layout} layout (an instances file: "layout": "${layout}"): STORAGE_ELEMENT_LAYOUT=${layout} npx artstore-db status --module storage-element --prefix ${prefix}`
          : 'see README "Storage-element instances" (STORAGE_ELEMENT_LAYOUT)'
      }`,
    )
  }
}

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')
const baselineFile = (migrationsDir: string) => path.join(migrationsDir, BASELINE, 'migration.sql')
const readIfThere = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined)
const tablesOf = (sql: string) => [...sql.matchAll(/^CREATE TABLE "([^"]+)"/gm)].map((m) => m[1])

/** The schema of the `_prisma_migrations` the session's search_path finds, if any. */
async function foundIn(c: pg.ClientBase): Promise<string | undefined> {
  const { rows } = await c.query<{ schema: string }>(
    `select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass('_prisma_migrations')`,
  )
  return rows[0]?.schema
}

/**
 * The prefix whose rendered 0_baseline has this checksum, among the instances whose tables (or
 * `artstore_<prefix>` history schemas) the database holds, and the schema file's own prefix.
 */
async function ownerOf(c: pg.ClientBase, t: ModuleTarget, checksum: string, schemas: readonly string[]): Promise<string | undefined> {
  const template = readIfThere(baselineFile((t.module.template ?? t.module).migrationsDir))
  if (template === undefined) return undefined
  const suffixes = tablesOf(template)
    .filter((n) => n.startsWith(DEFAULT_PREFIX))
    .map((n) => n.slice(DEFAULT_PREFIX.length))
  const { rows } = await c.query<{ name: string; schema: boolean }>(
    `select c.relname as name, false as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1) and c.relkind in ('r', 'p')
      union select substr(nspname, 10), true from pg_namespace where nspname like 'artstore\\_%'`,
    [schemas],
  )
  const candidates = new Set([DEFAULT_PREFIX])
  for (const { name, schema } of rows) {
    // A table <p>_files, <p>_config, …, or a history schema artstore_<p>.
    const suffix = schema ? '' : suffixes.find((s) => s && name.endsWith(s) && name.length > s.length)
    if (suffix !== undefined) candidates.add(suffix ? name.slice(0, -suffix.length) : name)
  }
  const own = t.module.prefix ?? DEFAULT_PREFIX
  return [...candidates].find((p) => p !== own && sha256(renderPrefix(template, p)) === checksum)
}

/** Whether `schema._prisma_migrations` holds an applied 0_baseline. */
async function hasBaselineIn(c: pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(`select to_regclass($1) is not null as ok`, [`${quoteIdent(schema)}._prisma_migrations`])
  if (!rows[0].ok) return false
  const { rows: baseline } = await c.query(
    `select 1 from ${quoteIdent(schema)}._prisma_migrations where migration_name = $1 and finished_at is not null and rolled_back_at is null`,
    [BASELINE],
  )
  return baseline.length > 0
}

/**
 * Refuses (ForeignHistoryError, exit 2) a storage-element history that is not the instance's own:
 * - its 0_baseline is the one rendered for another prefix (the services' one schema, read in the
 *   `schema` layout: instance 02 finds 01's history);
 * - the `shared` layout finds, first on its search_path, a history in the tables' schema (where the
 *   `schema` layout keeps it);
 * - the `schema` layout finds no history, while the instance's tables are there and its history is in
 *   `artstore_<prefix>` (where the `shared` layout keeps it).
 * A 0_baseline that matches no instance's is left to the caller: a changed migration.
 * Every command calls it where it reads the history: deploy and status (through status), verify,
 * adopt, rollback, resolve.
 */
export async function assertOwnHistory(c: pg.ClientBase, t: ModuleTarget, applied?: readonly AppliedMigration[]): Promise<void> {
  if (t.module.name !== 'storage-element') return
  const prefix = t.module.prefix ?? DEFAULT_PREFIX
  const own = readIfThere(baselineFile(t.module.migrationsDir))
  if (own === undefined) return
  const found = await foundIn(c)
  const rows = applied ?? (found ? await readAppliedMigrations(c) : [])
  const baseline = rows.filter((r) => r.name === BASELINE && !r.rolledBack).at(-1)
  if (found && baseline) {
    if (baseline.checksum !== sha256(own)) {
      const owner = await ownerOf(c, t, baseline.checksum, [...new Set([found, t.pgSchema])])
      if (!owner) return
      throw new ForeignHistoryError(
        t,
        `${found}._prisma_migrations is instance ${owner}'s history, not this instance's (its 0_baseline is rendered for ${owner})`,
        t.module.historySchema
          ? `instance ${owner} is in the schema layout, and the shared layout keeps every history apart, none in ${found}: give the instances of ${found} one layout`
          : `the services keep every instance in one schema, each history in artstore_<prefix>`,
        t.module.historySchema ? undefined : 'shared',
      )
    }
    if (t.module.historySchema && found === t.pgSchema) {
      throw new ForeignHistoryError(
        t,
        `its history is ${found}._prisma_migrations, where the schema layout keeps it, not ${sharedHistorySchema(prefix)}`,
        'it was deployed in the schema layout',
        'schema',
      )
    }
    return
  }
  if (t.module.historySchema || rows.length) return
  const shared = sharedHistorySchema(prefix)
  if (!(await hasBaselineIn(c, shared))) return
  const { rows: tables } = await c.query(`select 1 from pg_tables where schemaname = $1 and tablename = any($2)`, [t.pgSchema, tablesOf(own)])
  if (!tables.length) return
  throw new ForeignHistoryError(
    t,
    `its history is ${shared}._prisma_migrations, where the shared layout keeps it, and ${t.pgSchema} has none`,
    'it was deployed in the shared layout (the services keep every instance in one schema)',
    'shared',
  )
}

/** The rows of the history, as readAppliedMigrations reads them, once assertOwnHistory has found them the instance's own. */
export async function readOwnHistory(c: pg.ClientBase, t: ModuleTarget): Promise<AppliedMigration[]> {
  const rows = await readAppliedMigrations(c)
  await assertOwnHistory(c, t, rows)
  return rows
}
