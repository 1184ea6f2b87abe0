import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import type { Catalog } from '../catalog/read.ts'
import type { ModuleInfo, ModuleName } from '../modules.ts'
import { versionTableFor } from '../archive/database.ts'
import { BASELINE_NAME } from '../baseline/baseline.ts'

/** Head revisions of the two Alembic generations, from the legacy fact sheet. */
const LEGACY_CHAINS: Record<ModuleName, { old: string[]; reset: string[] }> = {
  admin: { old: ['0df874976374', '20251113_2127_sa', '20251115_1600_jwt', '20251116_1200_audit', '20251116_1630_pwd_policy'], reset: ['4c7e84fcc6b9'] },
  'storage-element': { old: ['a0053fc7f95d'], reset: ['100779395dad'] },
  query: { old: ['20250115_0001'], reset: ['16c6973431df'] },
}

export type DatabaseKind = 'empty' | 'managed' | 'tampered' | 'legacy' | 'unknown'

export interface Classification {
  kind: DatabaseKind
  /** The Alembic version table found, if any. */
  versionTable?: string
  /** The revision(s) stamped in it. */
  revisions: string[]
  /** `old-chain` (the 7 migrations), `reset` (the upstream baseline) or `unknown`. */
  generation?: 'old-chain' | 'reset' | 'unknown'
  /** The module's tables that exist. */
  moduleTables: string[]
  /** Tables that are not the module's: never touched. */
  foreignTables: string[]
  /** For `managed`/`tampered`: the recorded checksum of the baseline row. */
  recordedChecksum?: string
}

/** The Alembic version tables a module may have: `alembic_version`, or the storage element's per-prefix one. */
export function versionTables(module: ModuleInfo): string[] {
  if (module.name !== 'storage-element') return [versionTableFor(module.name)]
  // The legacy env.py named it after the configured prefix, whatever prefix the migration's tables had.
  return [...new Set([versionTableFor(module.name, module.prefix), versionTableFor(module.name)])]
}

/** What the database is, before anything is planned. */
export async function classifyDatabase(
  c: pg.ClientBase,
  module: ModuleInfo,
  schema: string,
  live: Catalog,
  expectedTables: readonly string[],
  checksum: string,
  /** The shared layout: where the instance's `_prisma_migrations` is, apart from its tables. */
  historySchema?: string,
): Promise<Classification> {
  const moduleTables = expectedTables.filter((t) => live.tables.includes(t))
  const versionTable = versionTables(module).find((t) => live.tables.includes(t))
  const foreignTables = live.tables.filter((t) => !expectedTables.includes(t) && t !== '_prisma_migrations' && t !== versionTable)
  const base = { moduleTables, foreignTables, revisions: [] as string[] }
  const history = historySchema ?? schema
  const { rows: present } = await c.query<{ ok: boolean }>(`select to_regclass($1) is not null as ok`, [`${quoteIdent(history)}._prisma_migrations`])
  if (present[0].ok) {
    const { rows } = await c.query<{ checksum: string }>(
      `select checksum from ${quoteIdent(history)}._prisma_migrations where migration_name = $1 and rolled_back_at is null and finished_at is not null`,
      [BASELINE_NAME],
    )
    if (rows.length) return { ...base, kind: rows[0].checksum === checksum ? 'managed' : 'tampered', recordedChecksum: rows[0].checksum }
  }
  if (versionTable) {
    const { rows } = await c.query<{ v: string }>(`select version_num as v from ${quoteIdent(schema)}.${quoteIdent(versionTable)} order by 1`)
    const revisions = rows.map((r) => r.v)
    const chains = LEGACY_CHAINS[module.name]
    const generation =
      revisions.length && revisions.every((r) => chains.old.includes(r))
        ? 'old-chain'
        : revisions.length && revisions.every((r) => chains.reset.includes(r))
          ? 'reset'
          : 'unknown'
    return { ...base, kind: 'legacy', versionTable, revisions, generation }
  }
  return { ...base, kind: moduleTables.length ? 'unknown' : 'empty' }
}
