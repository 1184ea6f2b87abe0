import { BASELINE_NAME } from '../baseline/baseline.ts'
import { compareCatalogs, foreignKeyTypeChecks, withoutTables, type CheckItem } from '../catalog/compare.ts'
import { readCatalog } from '../catalog/read.ts'
import { describeInvalidIndex, indexValidityChecks, invalidIndexesOf } from '../catalog/validity.ts'
import { describeTarget, eachTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient, type ModuleTarget } from '../db/targets.ts'
import { BaselineMissingError } from '../baseline/errors.ts'
import { compareHistory, readMigrationFolders, type AppliedMigration, type MigrationFolder } from '../history/history.ts'
import { foreseeRecovery } from '../deploy/recover.ts'
import { interruptedStatus, type InterruptedStatus } from '../status/status.ts'
import { readOwnHistory } from '../history/owner.ts'
import { otherModulesIn } from '../guard/guard.ts'
import { driftDiff, tablesTarget, withModuleEngine } from '../engine/module.ts'
import { expectedCatalog } from './expected.ts'
import { extraTableCheck, splitUnexpected } from './extra.ts'
import { isolationChecks } from './isolation.ts'
import { moduleFlags } from '../modules.ts'

export interface VerifyReport extends ReturnType<typeof describeTarget> {
  ok: boolean
  /** True when the module's schema holds none of its tables (nothing deployed yet). */
  empty: boolean
  items: CheckItem[]
}

/** Prisma's own drift check: the live schema against the Prisma schema. */
async function driftCheck(t: ModuleTarget, foreign: readonly string[]): Promise<CheckItem> {
  const name = 'Prisma sees no drift between the database and schema.prisma'
  // Foreign tables are declared external, so Prisma leaves them out of its comparison too.
  // The shared layout: the engine compares the tables' schema, not the instance's history schema.
  const tables = tablesTarget(t)
  const drift = await withModuleEngine(tables, (e) => driftDiff(e, tables, { script: false, foreignTables: foreign })).catch((e: Error) => e)
  if (drift instanceof Error) return { category: 'drift', name, ok: false, actual: drift.message.split('\n')[0] }
  if (!drift.different) return { category: 'drift', name, ok: true }
  const summary = drift.output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\[[+\-*]\]/.test(l))
  return { category: 'drift', name, ok: false, actual: summary.slice(0, 10).join('; ') || 'differences found' }
}

/** One line per migration of the history: applied, finished, with the committed checksum. */
function historyChecks(
  t: ModuleTarget,
  history: readonly MigrationFolder[],
  applied: readonly AppliedMigration[],
  interrupted?: InterruptedStatus,
): CheckItem[] {
  const flags = moduleFlags(t.module)
  return history.map((m) => {
    const row = applied.find((a) => a.name === m.name && !a.rolledBack)
    const ok = !!row && row.finished && row.checksum === m.checksum
    return {
      category: 'history',
      name: `${m.name} is applied with the committed checksum`,
      ok,
      ...(ok
        ? {}
        : {
            expected: m.checksum.slice(0, 16),
            actual: row
              ? row.finished
                ? `checksum ${row.checksum.slice(0, 16)}`
                : interrupted?.migration !== m.name
                  ? 'failed'
                  : interrupted.deploy === 'running'
                    ? `being applied by a deploy now (backend pid ${interrupted.runningPid})`
                    : `unfinished, interrupted (no error logged): deploy settles it, run npx artstore-db deploy ${flags}`
              : `not applied: run npx artstore-db deploy ${flags}`,
          }),
    }
  })
}

/**
 * The post-migration checklist of one module: every object its whole history creates (the baseline and
 * every later migration, derived from the schema and the extras) compared with the live schema, FK
 * type matches, every index valid (not left INVALID by a CONCURRENTLY build), the history rows,
 * isolation, and Prisma's drift check. Read-only.
 */
export async function verifyModule(t: ModuleTarget): Promise<VerifyReport> {
  const history = readMigrationFolders(t.module.migrationsDir)
  if (!history.some((m) => m.name === BASELINE_NAME)) throw new BaselineMissingError(t.module.name)
  const { items, empty, foreign } = await withClient(t, async (c) => {
    const expected = await expectedCatalog(
      c,
      history.map((m) => m.up),
    )
    const actual = await readCatalog(c, t.pgSchema)
    const empty = !expected.tables.some((name) => actual.tables.includes(name))
    const items: CheckItem[] = []
    if (empty) {
      items.push({
        category: 'tables',
        name: `the module's tables are in schema ${t.pgSchema}`,
        ok: false,
        actual: `none: run npx artstore-db deploy ${moduleFlags(t.module)}`,
      })
    }
    // A table the history does not leave is the module's (a leftover, or one a pending migration drops:
    // a ❌ of its own with its fix) or not (another instance's, an app's: listed and left alone); another
    // module's tables are caught by the isolation checks below. Either way its keys and indexes are left
    // out of the comparison: the table is the finding.
    const others = (await otherModulesIn(c, t)).flatMap((f) => f.tables)
    const { extra, foreign: alone } = splitUnexpected(t, actual.tables, expected.tables, others)
    const foreign = [...alone, ...others]
    items.push(...compareCatalogs(expected, withoutTables(actual, [...extra, ...foreign]), ['_prisma_migrations'], 'required'))
    const rows = await readOwnHistory(c, t)
    // An unfinished migration that deploy settles itself is named with deploy, as status names it.
    const comparison = compareHistory(history, rows)
    const interrupted = comparison.state === 'failed' ? interruptedStatus(await foreseeRecovery(c, t, { ...describeTarget(t), ...comparison })) : undefined
    items.push(...extra.map((name) => extraTableCheck(t, name, history, rows)))
    items.push(...alone.map((name) => ({ category: 'foreign', name: `${name}: not the module's table, left alone`, ok: true })))
    items.push(...foreignKeyTypeChecks(actual))
    // An index whose definition compares equal may still be INVALID (never used): every one is a ❌ of its own.
    const invalid = invalidIndexesOf(actual, (table) => !foreign.includes(table)).map((i) =>
      describeInvalidIndex(t, i, history, rows, interrupted?.dropsInvalid),
    )
    if (!empty || invalid.length) items.push(...indexValidityChecks(invalid))
    items.push(...historyChecks(t, history, rows, interrupted))
    items.push(...(await isolationChecks(c, t, expected.tables)))
    return { items, empty, foreign }
  })
  if (!empty) items.push(await driftCheck(t, foreign))
  return { ...describeTarget(t), ok: items.every((i) => i.ok), empty, items }
}

/** `verify`: the checklist for each selected module. */
export function verify(opts: CommandOptions = {}): Promise<VerifyReport[]> {
  return withCheckedTargets(opts, async (targets) => {
    return eachTarget(targets, (t) => moduleStep(opts, t, () => verifyModule(t)))
  })
}
