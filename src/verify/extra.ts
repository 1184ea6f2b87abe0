import type { CheckItem } from '../catalog/compare.ts'
import { quoteIdent } from '../db/pg-config.ts'
import type { ModuleTarget } from '../db/targets.ts'
import type { AppliedMigration, MigrationFolder } from '../history/history.ts'
import { DEFAULT_PREFIX } from '../prefix/prefix.ts'
import { moduleFlags } from '../modules.ts'

/**
 * Splits the tables of the module's schema that no migration of its history makes into the module's
 * own (`extra`: a leftover of a rolled-back migration, a table made by hand) and the others'
 * (`foreign`, left alone). `others` (another module's tables, which the isolation checks report) are
 * in neither.
 *
 * A storage-element instance owns only names with its prefix: in the shared layout every instance's
 * tables sit side by side, and an app may keep its own there. A name that also carries a longer
 * instance prefix present in the schema (`storage_elem_01_b_files` beside `storage_elem_01`) is that
 * instance's. The other modules own their whole schema.
 */
export function splitUnexpected(
  t: ModuleTarget,
  present: readonly string[],
  expected: readonly string[],
  others: readonly string[],
): { extra: string[]; foreign: string[] } {
  const unexpected = present.filter((x) => !expected.includes(x) && x !== '_prisma_migrations')
  const owns = ownership(t, present, expected)
  const extra = unexpected.filter((x) => !others.includes(x) && owns(x))
  return { extra, foreign: unexpected.filter((x) => !extra.includes(x) && !others.includes(x)) }
}

function ownership(t: ModuleTarget, present: readonly string[], expected: readonly string[]): (table: string) => boolean {
  if (t.module.name !== 'storage-element') return () => true
  return instanceOwnership(t.module.prefix ?? DEFAULT_PREFIX, present, expected)
}

/**
 * Whether a name of the schema is the storage-element instance `prefix`'s: it carries the prefix, and no
 * longer instance prefix present beside it (`expected`: the instance's own names, from its history).
 */
export function instanceOwnership(prefix: string, present: readonly string[], expected: readonly string[]): (name: string) => boolean {
  const own = `${prefix}_`
  // The instance's own table names without the prefix (config, files, wal): another instance is any
  // other prefix with one of them.
  const bases = expected.filter((x) => x.startsWith(own)).map((x) => x.slice(own.length))
  const longer = new Set<string>()
  for (const name of present) {
    for (const base of bases) {
      const other = name.endsWith(`_${base}`) ? name.slice(0, -base.length - 1) : undefined
      if (other && other !== prefix && other.startsWith(own)) longer.add(other)
    }
  }
  return (table) => table.startsWith(own) && ![...longer].some((p) => table.startsWith(`${p}_`))
}

const mentions = (verb: 'CREATE' | 'DROP', sql: string, table: string) =>
  new RegExp(`^\\s*${verb} TABLE (?:IF (?:NOT )?EXISTS )?(?:"?[\\w$]+"?\\.)?"?${table.replace(/[$]/g, '\\$&')}"?[\\s(;]`, 'im').test(sql)

/**
 * The failed check of a table of the module that the history does not leave: a later migration that
 * drops it and is not applied here (deploy it), or a leftover (drop it, or keep it by a migration).
 */
export function extraTableCheck(t: ModuleTarget, table: string, history: readonly MigrationFolder[], applied: readonly AppliedMigration[]): CheckItem {
  const flags = moduleFlags(t.module)
  const dropper = [...history].reverse().find((m) => mentions('DROP', m.up, table))
  const made = history.some((m) => mentions('CREATE', m.up, table))
  const pending = dropper && !applied.some((a) => a.name === dropper.name && a.finished && !a.rolledBack)
  const item = {
    category: 'table',
    name: table,
    ok: false,
    expected: made && dropper ? `absent (${dropper.name} drops it)` : 'absent (no migration of the history makes it)',
  }
  if (pending) return { ...item, actual: `present: ${dropper.name} is not applied here: run npx artstore-db deploy ${flags}` }
  return {
    ...item,
    actual:
      `present: a leftover (e.g. of a rolled-back migration) is dropped with DROP TABLE ${quoteIdent(t.pgSchema)}.${quoteIdent(table)}; ` +
      `a table to keep goes into the module's schema.prisma, then npx artstore-db migrate new ${flags} --name <name>`,
  }
}
