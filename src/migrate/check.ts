import { BASELINE_NAME, BASELINE_RECORD, recordedBaselineChecksum, sha256 } from '../baseline/baseline.ts'
import { eachTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { readMigrationFolders } from '../history/history.ts'
import { invalidIndexesOf, migrationCreatingIndex } from '../catalog/validity.ts'
import type { ModuleInfo } from '../modules.ts'
import { catalogDifferences, HISTORY_SCHEMA, prismaDiffs, targetCatalog, withScratchClient } from './generate.ts'
import { lintMigration, recordedAllowance } from './lint.ts'
import { runAndRead } from './scratch.ts'

export interface MigrateCheckResult {
  module: ModuleInfo['name']
  /** Storage element only: the instance checked, when it is not the schema file's own. */
  prefix?: string
  ok: boolean
  /** The migrations checked, in order. */
  migrations: string[]
  /** What fails the check, first problem first; each names its fix. */
  problems: string[]
  /** Lint warnings of the later migrations: shown, never failing. */
  warnings: string[]
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0]

/** 0_baseline still has the checksum recorded when it was written (the one every deployed database holds). */
function baselineProblems(module: ModuleInfo): string[] {
  const source = module.template ?? module
  const folders = readMigrationFolders(source.migrationsDir)
  const baseline = folders.find((f) => f.name === BASELINE_NAME)
  if (!baseline) return [`there is no ${BASELINE_NAME}: run npx artstore-db baseline --module ${module.name}`]
  const recorded = recordedBaselineChecksum(source)
  if (recorded === undefined)
    return [`${BASELINE_NAME}/${BASELINE_RECORD} is missing: run npx artstore-db baseline --module ${module.name} (before any later migration exists)`]
  if (sha256(baseline.up) !== recorded) {
    return [
      `${BASELINE_NAME}/migration.sql no longer has its recorded checksum ${recorded.slice(0, 16)}: restore it from git; every deployed database holds that checksum`,
    ]
  }
  return []
}

/**
 * The CI check of one module's history, on a temporary database of its server: the history replays,
 * migration by migration, and each later migration's down.sql returns the catalog to the state before
 * it (then it is applied again); the replayed history builds exactly what the schema file and extras
 * build (the catalogs, and Prisma's own diff); each later migration lints clean or records why its
 * dangerous steps were allowed; 0_baseline still has its recorded checksum.
 */
export async function checkModule(t: ModuleTarget): Promise<MigrateCheckResult> {
  const history = readMigrationFolders(t.module.migrationsDir)
  const problems = baselineProblems(t.module)
  const warnings: string[] = []
  const result = () => ({
    module: t.module.name,
    ...(t.module.prefix ? { prefix: t.module.prefix } : {}),
    ok: problems.length === 0,
    migrations: history.map((m) => m.name),
    problems,
    warnings,
  })
  if (!history.length) return result()
  await withScratchClient(t, 'check', async (c, url) => {
    let state = await runAndRead(c, HISTORY_SCHEMA, '')
    for (const m of history) {
      const before = state
      try {
        state = await runAndRead(c, HISTORY_SCHEMA, m.up)
      } catch (e) {
        problems.push(
          `${m.name}/migration.sql fails on the history before it: ${firstLine(e)}: fix it (or, if it was deployed, leave it and add a migration after it)`,
        )
        return
      }
      if (m.name === BASELINE_NAME) continue
      if (m.down === undefined) {
        problems.push(`${m.name} has no down.sql: write one that returns the catalog to the state before it (npx artstore-db migrate new writes both)`)
      } else {
        try {
          const back = await runAndRead(c, HISTORY_SCHEMA, m.down)
          const short = catalogDifferences(before, back)
          if (short.length) problems.push(`${m.name}/down.sql does not restore the catalog before it: ${short.slice(0, 3).join('; ')}: fix down.sql`)
          state = await runAndRead(c, HISTORY_SCHEMA, m.up)
        } catch (e) {
          problems.push(`${m.name}/down.sql fails: ${firstLine(e)}: fix down.sql`)
          return
        }
      }
      const findings = await lintMigration(m.up, before)
      const dangerous = findings.filter((f) => f.level === 'error')
      if (dangerous.length && !recordedAllowance(m.up)) {
        problems.push(
          `${m.name} has dangerous steps and no recorded allowance (${dangerous[0].message.split('\n')[0]}): make it safe, or regenerate it with --allow-dangerous "<reason>"`,
        )
      }
      for (const f of findings.filter((x) => x.level === 'warning'))
        warnings.push(`${m.name}: ${f.source === 'squawk' ? `squawk ${f.rule}` : f.rule}${f.line ? ` (line ${f.line})` : ''}: ${f.message.split('\n')[0]}`)
    }
    for (const i of invalidIndexesOf(state)) {
      problems.push(
        `the history leaves index ${i.name} on ${i.table} INVALID (pg_index.indisvalid: never used by a query): fix ${migrationCreatingIndex(history, i.name) ?? 'the migration that creates it'} (an index ON ONLY a partitioned table needs every partition's index attached)`,
      )
    }
    const expected = await targetCatalog(c, t, url)
    const differences = catalogDifferences(expected, state)
    const { up } = await prismaDiffs(t, url)
    if (differences.length || up) {
      const what = differences.length
        ? differences.slice(0, 3).join('; ')
        : up
            .split('\n')
            .filter((l) => l && !l.startsWith('--'))
            .slice(0, 2)
            .join(' ')
      problems.push(
        `the history does not build schema.prisma and sql/ (${what}): write the next migration with npx artstore-db migrate new --module ${t.module.name} --name <change>`,
      )
    }
  })
  return result()
}

/** `migrate check`: the history check of each selected module (see checkModule). Read-only. */
export function migrateCheck(opts: CommandOptions = {}): Promise<MigrateCheckResult[]> {
  return withCheckedTargets(opts, (targets) => eachTarget(targets, (t) => moduleStep(opts, t, () => checkModule(t))))
}
