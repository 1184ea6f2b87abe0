import { createHash } from 'node:crypto'
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import { readCommittedBaseline } from '../baseline/baseline.ts'
import { ArtstoreError } from '../errors.ts'
import { moduleNames, modules, type ModuleInfo } from '../modules.ts'
import type { ModuleTarget } from '../db/targets.ts'
import type { CheckItem } from '../catalog/compare.ts'

/** The tables a module's committed baseline creates. */
export function baselineTables(module: ModuleInfo): string[] {
  const up = readCommittedBaseline(module).up ?? ''
  return [...up.matchAll(/^CREATE TABLE "([^"]+)"/gm)].map((m) => m[1])
}

/** sha256 of the committed baseline: the checksum `migrate deploy` records for it. */
export function baselineChecksum(module: ModuleInfo): string | undefined {
  const up = readCommittedBaseline(module).up
  return up === undefined ? undefined : createHash('sha256').update(up).digest('hex')
}

export class ModuleDatabaseMismatchError extends ArtstoreError {
  constructor(t: ModuleTarget, other: string, evidence: string) {
    super(
      `${t.display} (schema ${t.pgSchema}) is the ${other} module's database (${evidence}), not the ${t.module.name} module's: point ${
        t.source === 'embedded' || t.source === 'DATABASE_URL' ? t.module.urlVariable : t.source
      } at the ${t.module.name} database`,
    )
  }
}

interface Finding {
  module: string
  tables: string[]
  history: boolean
}

/** Other modules whose tables or baseline history row sit in the target's schema. */
export async function otherModulesIn(c: pg.ClientBase, t: ModuleTarget): Promise<Finding[]> {
  const { rows: present } = await c.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p')`,
    [t.pgSchema],
  )
  const names = new Set(present.map((r) => r.name))
  let checksums = new Set<string>()
  if (names.has('_prisma_migrations')) {
    const { rows } = await c.query<{ checksum: string }>(
      `select checksum from ${quoteIdent(t.pgSchema)}._prisma_migrations where rolled_back_at is null`,
    )
    checksums = new Set(rows.map((r) => r.checksum))
  }
  const own = baselineChecksum(t.module)
  const out: Finding[] = []
  for (const name of moduleNames.filter((n) => n !== t.module.name)) {
    const other = modules[name]
    const tables = baselineTables(other).filter((x) => names.has(x))
    const sum = baselineChecksum(other)
    const history = !!sum && sum !== own && checksums.has(sum)
    if (tables.length || history) out.push({ module: name, tables, history })
  }
  return out
}

const evidence = (f: Finding) =>
  [f.tables.length ? `its tables ${f.tables.slice(0, 3).join(', ')}${f.tables.length > 3 ? ', …' : ''}` : '', f.history ? 'its baseline in _prisma_migrations' : '']
    .filter(Boolean)
    .join(' and ')

/**
 * Refuses a target whose schema belongs to another module (upstream bug 4: a module configured
 * against the wrong database). Called before anything is changed.
 */
export async function assertOwnDatabase(c: pg.ClientBase, t: ModuleTarget): Promise<void> {
  const [first] = await otherModulesIn(c, t)
  if (first) throw new ModuleDatabaseMismatchError(t, first.module, evidence(first))
}

/** The isolation lines of the checklist: the history sits with the tables, no other module is here, and ours is nowhere else. */
export async function isolationChecks(c: pg.ClientBase, t: ModuleTarget, ownTables: readonly string[]): Promise<CheckItem[]> {
  const items: CheckItem[] = []
  const historySchema = t.module.historySchema ?? t.pgSchema
  const { rows: history } = await c.query<{ schema: string }>(
    `select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relname = '_prisma_migrations' and c.relkind = 'r' and n.nspname = $1`,
    [historySchema],
  )
  items.push({
    category: 'isolation',
    name: t.module.historySchema
      ? `history table ${historySchema}._prisma_migrations is the instance's own, apart from the tables in ${t.pgSchema}`
      : `history table ${t.pgSchema}._prisma_migrations sits with the module's tables`,
    ok: history.length === 1,
    ...(history.length ? {} : { actual: 'missing' }),
  })
  if (t.module.historySchema) {
    // No history in the tables' schema: the engine would read that one instead of the instance's.
    const { rows: stray } = await c.query(`select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = '_prisma_migrations' and n.nspname = $1`, [t.pgSchema])
    items.push({ category: 'isolation', name: `no _prisma_migrations in ${t.pgSchema}, where every instance's tables are`, ok: stray.length === 0, ...(stray.length ? { actual: 'present' } : {}) })
  }
  for (const f of await otherModulesIn(c, t)) {
    items.push({ category: 'isolation', name: `no ${f.module} objects in schema ${t.pgSchema}`, ok: false, actual: evidence(f) })
  }
  if (!items.some((i) => i.name.startsWith('no '))) items.push({ category: 'isolation', name: `no other module's objects in schema ${t.pgSchema}`, ok: true })
  const { rows: elsewhere } = await c.query<{ name: string; schema: string }>(
    `select c.relname as name, n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and c.relname = any($1) and n.nspname <> $2
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'artstore_expected_%'`,
    [ownTables, t.pgSchema],
  )
  items.push({
    category: 'isolation',
    name: `the ${t.module.name} tables exist in no other schema of this database`,
    ok: elsewhere.length === 0,
    ...(elsewhere.length ? { actual: elsewhere.map((r) => `${r.schema}.${r.name}`).join(', ') } : {}),
  })
  return items
}
