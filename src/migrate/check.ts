import { BASELINE_NAME, BASELINE_RECORD, recordedBaselineChecksum, sha256 } from '../baseline/baseline.ts'
import { SchemaInvalidError } from '../baseline/errors.ts'
import { eachTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { readMigrationFolders } from '../history/history.ts'
import { invalidIndexesOf, migrationCreatingIndex } from '../catalog/validity.ts'
import type { ModuleInfo } from '../modules.ts'
import { withClient } from '../db/targets.ts'
import { readAppliedMigrations } from '../history/history.ts'
import type { Catalog } from '../catalog/read.ts'
import { forTransaction } from '../verify/expected.ts'
import { catalogDifferences, HISTORY_SCHEMA, prismaDiffs, targetCatalog, withScratchClient } from './generate.ts'
import { runsOutsideTransaction } from './header.ts'
import { allowanceDifference, isAllowable, isRewrite, lintMigration, recordedAllowance, type LintFinding } from './lint.ts'
import { databaseVolatility } from './rewrites.ts'
import { runAndRead } from './scratch.ts'
import { moduleFlags } from '../modules.ts'

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

/** One migration as the check replays it: its folder name and scripts. */
export interface CheckedMigration {
  name: string
  up: string
  down?: string
}

/** What the history check found: problems fail it, warnings are shown. */
export interface HistoryFindings {
  problems: string[]
  warnings: string[]
  /** The lint's findings per later migration, by name (migrate new renders those of its own). */
  findings: Map<string, LintFinding[]>
}

/** How a predicate or default is written in schema.prisma, quoted for a Prisma string. */
const prismaString = (text: string) => JSON.stringify(text)

/**
 * What Prisma's drift names that the catalogs do not: an expression PostgreSQL stores in another
 * spelling than the schema file's (a partial index's predicate, a column default), which Prisma
 * compares as text. Each hint gives the stored form to put in schema.prisma.
 */
export function spellingHints(drift: string, state: Catalog): string[] {
  const hints: string[] = []
  for (const m of drift.matchAll(/CREATE (?:UNIQUE )?INDEX "((?:[^"]|"")+)"[^;]*\bWHERE\b/g)) {
    const index = state.indexes.find((i) => i.name === m[1].replace(/""/g, '"'))
    if (index?.predicate)
      hints.push(
        `index ${index.name}: PostgreSQL stores its predicate as ${index.predicate}: write where: raw(${prismaString(index.predicate)}) in schema.prisma`,
      )
  }
  for (const m of drift.matchAll(/ALTER TABLE "((?:[^"]|"")+)" ([^;]*);/g)) {
    for (const d of m[2].matchAll(/ALTER COLUMN "((?:[^"]|"")+)" SET DEFAULT/g)) {
      const column = state.columns.find((c) => c.table === m[1] && c.name === d[1])
      if (column?.default)
        hints.push(
          `column ${column.table}.${column.name}: PostgreSQL stores its default as ${column.default}: write @default(dbgenerated(${prismaString(column.default)})) in schema.prisma`,
        )
    }
  }
  return hints
}

/**
 * The history check, on a temporary database of the target's server: the history replays, migration
 * by migration, and each later migration's down.sql returns the catalog to the state before it (then
 * it is applied again); the replayed history builds exactly what the schema file and extras build (the
 * catalogs, and Prisma's own diff); each later migration lints clean, or its allowance records exactly
 * the dangerous findings it has. `migrate check` runs it on the committed history, `migrate new` on
 * the history with the migration it is about to write.
 */
export async function checkHistory(t: ModuleTarget, history: readonly CheckedMigration[], label: string, next: string): Promise<HistoryFindings> {
  const problems: string[] = []
  const warnings: string[] = []
  const findings = new Map<string, LintFinding[]>()
  if (!history.length) return { problems, warnings, findings }
  await withScratchClient(t, label, async (c, url) => {
    let state = await runAndRead(c, HISTORY_SCHEMA, '')
    for (const m of history) {
      const before = state
      try {
        state = await runAndRead(c, HISTORY_SCHEMA, forReplay(m.up))
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
          const back = await runAndRead(c, HISTORY_SCHEMA, forReplay(m.down))
          const short = catalogDifferences(before, back)
          if (short.length) problems.push(`${m.name}/down.sql does not restore the catalog before it: ${short.slice(0, 3).join('; ')}: fix down.sql`)
          state = await runAndRead(c, HISTORY_SCHEMA, forReplay(m.up))
        } catch (e) {
          problems.push(`${m.name}/down.sql fails: ${firstLine(e)}: fix down.sql`)
          return
        }
      }
      const found = await lintMigration(m.up, before, { volatility: databaseVolatility(c) })
      findings.set(m.name, found)
      const refused = found.filter((f) => f.level === 'error' && !isAllowable(f))
      for (const f of refused) problems.push(`${m.name}: ${f.rule}${f.line ? ` (line ${f.line})` : ''}: ${f.message.split('\n')[0]}`)
      const dangerous = found.filter(isAllowable)
      const { missing, stale } = allowanceDifference(m.up, dangerous, found.filter(isRewrite))
      const allow = `npx artstore-db migrate allow ${m.name} --module ${t.module.name} --reason "<why>"`
      if (missing.length && !recordedAllowance(m.up)) {
        problems.push(`${m.name} has dangerous steps and no recorded allowance (${missing[0]}): make it safe, or record why with ${allow}`)
      } else if (missing.length || stale.length) {
        const what = [missing.length ? `not allowed: ${missing.join('; ')}` : '', stale.length ? `allowed, no longer found: ${stale.join('; ')}` : ''].filter(
          Boolean,
        )
        problems.push(
          `${m.name}: its allowance records other dangerous steps than it has (${what.join('; ')}): review them, then record them again with ${allow}`,
        )
      }
      for (const f of found.filter((x) => x.level === 'warning'))
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
      const hints = differences.length ? [] : spellingHints(up, state)
      if (hints.length) {
        problems.push(`the history builds schema.prisma and sql/, but Prisma reads schema.prisma as different: ${hints.join('; ')}`)
        return
      }
      const what = differences.length
        ? differences.slice(0, 3).join('; ')
        : up
            .split('\n')
            .filter((l) => l && !l.startsWith('--'))
            .slice(0, 2)
            .join(' ')
      problems.push(`the history does not build schema.prisma and sql/ (${what}): ${next}`)
    }
  })
  return { problems, warnings, findings }
}

/**
 * A script as the replay runs it: as deploy does, in one transaction with the others of the check,
 * except that a migration declared to run outside a transaction (or one CONCURRENTLY statement) runs
 * its CONCURRENTLY build as a plain one, which a scratch database with no other session makes the same.
 */
const forReplay = (sql: string) => (runsOutsideTransaction(sql) ? forTransaction(sql) : sql)

/**
 * The order problems of a history: Prisma applies the folders by name, so a folder that is pending on
 * the target while one sorting after it is applied there would be applied there after it, and on a
 * fresh database before it. Read from the target's history table when it has one.
 */
export async function orderProblems(t: ModuleTarget, folders: readonly string[]): Promise<string[]> {
  let applied: string[]
  try {
    applied = (await withClient(t, readAppliedMigrations)).filter((m) => !m.rolledBack).map((m) => m.name)
  } catch {
    return []
  }
  const newest = [...applied]
    .filter((n) => folders.includes(n))
    .sort()
    .at(-1)
  if (!newest) return []
  return folders
    .filter((f) => f < newest && !applied.includes(f))
    .map(
      (f) =>
        `${f} sorts before ${newest}, which is applied on ${t.display}, and is not applied there: deploy would apply it after ${newest}, a fresh database before it: rename the folder so that it sorts after every applied one (npx artstore-db migrate new names new folders so)`,
    )
}

/**
 * The CI check of one module's history (see checkHistory), its order against the target's applied
 * history (see orderProblems), and 0_baseline's recorded checksum.
 */
export async function checkModule(t: ModuleTarget): Promise<MigrateCheckResult> {
  const history = readMigrationFolders(t.module.migrationsDir)
  const problems = baselineProblems(t.module)
  problems.push(
    ...(await orderProblems(
      t,
      history.map((m) => m.name),
    )),
  )
  const found = await checkHistory(t, history, 'check', `write the next migration with npx artstore-db migrate new --module ${t.module.name} --name <change>`)
  problems.push(...found.problems)
  return {
    module: t.module.name,
    ...(t.module.prefix ? { prefix: t.module.prefix } : {}),
    ok: problems.length === 0,
    migrations: history.map((m) => m.name),
    problems,
    warnings: found.warnings,
  }
}

/** `migrate check`: the history check of each selected module (see checkModule). Read-only. */
export function migrateCheck(opts: CommandOptions = {}): Promise<MigrateCheckResult[]> {
  const again = (t: ModuleTarget) => `npx artstore-db migrate check ${moduleFlags(t.module)}`
  return withCheckedTargets(opts, (targets) => eachTarget(targets, (t) => moduleStep(opts, t, () => checkModule(t).catch(SchemaInvalidError.rerun(again(t))))))
}
