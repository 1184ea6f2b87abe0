import type pg from 'pg'
import { baselineChecksum, baselineTables } from '../baseline/baseline.ts'
import { quoteIdent } from '../db/pg-config.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { EnvironmentError } from '../errors.ts'
import { moduleNames, modules } from '../modules.ts'

// The wrong-database guard every command that writes runs first (deploy, rollback, resolve, adopt),
// and what the checklist's isolation lines are made of.

export class ModuleDatabaseMismatchError extends EnvironmentError {
  constructor(t: ModuleTarget, other: string, evidence: string) {
    super(
      `${t.display} (schema ${t.pgSchema}) is the ${other} module's database (${evidence}), not the ${t.module.name} module's: point ${
        t.origin ?? (t.source === 'embedded' || t.source === 'DATABASE_URL' ? t.module.urlVariable : t.source)
      } at the ${t.module.name} database`,
    )
  }
}

export interface Finding {
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
    const { rows } = await c.query<{ checksum: string }>(`select checksum from ${quoteIdent(t.pgSchema)}._prisma_migrations where rolled_back_at is null`)
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

export const evidence = (f: Finding) =>
  [
    f.tables.length ? `its tables ${f.tables.slice(0, 3).join(', ')}${f.tables.length > 3 ? ', …' : ''}` : '',
    f.history ? 'its baseline in _prisma_migrations' : '',
  ]
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
