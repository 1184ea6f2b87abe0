import type pg from 'pg'
import type { ModuleTarget } from '../db/targets.ts'
import type { CheckItem } from '../catalog/compare.ts'
import { evidence, otherModulesIn } from '../guard/guard.ts'

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
    const { rows: stray } = await c.query(
      `select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = '_prisma_migrations' and n.nspname = $1`,
      [t.pgSchema],
    )
    items.push({
      category: 'isolation',
      name: `no _prisma_migrations in ${t.pgSchema}, where every instance's tables are`,
      ok: stray.length === 0,
      ...(stray.length ? { actual: 'present' } : {}),
    })
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
