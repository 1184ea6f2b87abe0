import type pg from 'pg'
import { withCheckedTargets } from '../context.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { withClient } from '../db/targets.ts'
import type { ModuleName } from '../modules.ts'
import { DEFAULT_PREFIX, validatePrefix } from '../prefix/prefix.ts'
import { OptionForOtherModuleError } from '../errors.ts'
import type { DatabaseVersionRecord } from './manifest.ts'

/**
 * The Alembic version table of a module: `alembic_version`, or `<prefix>_alembic_version` for the
 * storage element, whose env.py named it after the table prefix. Throws on a malformed prefix, or a
 * prefix given for another module.
 */
export function versionTableFor(module: ModuleName, prefix?: string): string {
  if (prefix !== undefined) validatePrefix(prefix)
  if (module !== 'storage-element') {
    if (prefix !== undefined)
      throw new OptionForOtherModuleError(
        '--prefix',
        module,
        'storage-element',
        `drop --prefix (only the storage element's version table is named after it; ${module} uses alembic_version)`,
      )
    return 'alembic_version'
  }
  return `${prefix ?? DEFAULT_PREFIX}_alembic_version`
}

/**
 * The rows of the version table in the client's search_path (the module's schema), or null when
 * the table does not exist there. Read-only.
 */
export async function readVersionRows(client: pg.ClientBase, table: string): Promise<string[] | null> {
  const { rows } = await client.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [quoteIdent(table)])
  if (!rows[0].present) return null
  const versions = await client.query<{ version_num: string }>(`select version_num from ${quoteIdent(table)} order by version_num`)
  return versions.rows.map((r) => r.version_num)
}

/**
 * Reads the module's live Alembic version through the project's URL resolution (its own variable,
 * DATABASE_URL, or the embedded server) and places each stamped revision in `chain` (revision ids
 * in archive order).
 */
export function readDatabaseVersion(
  module: ModuleName,
  table: string,
  chain: readonly string[],
  env?: Record<string, string | undefined>,
): Promise<DatabaseVersionRecord> {
  return withCheckedTargets({ module, env }, async ([t]) => {
    const rows = await withClient(t, (c) => readVersionRows(c, table))
    return {
      pgSchema: t.pgSchema,
      versionTable: table,
      tableFound: rows !== null,
      versions: (rows ?? []).map((revision) => {
        const i = chain.indexOf(revision)
        return { revision, inChain: i >= 0, position: i >= 0 ? i + 1 : null }
      }),
    }
  })
}
