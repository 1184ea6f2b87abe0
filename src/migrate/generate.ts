import path from 'node:path'
import type pg from 'pg'
import { generateBaseline } from '../baseline/baseline.ts'
import { readExtras, type Extra } from '../baseline/extras.ts'
import { compareCatalogs, type CheckItem } from '../catalog/compare.ts'
import type { Catalog } from '../catalog/read.ts'
import { quoteIdent, withClientOf } from '../db/pg-config.ts'
import { FailureError } from '../errors.ts'
import { scratchServer, withTemporaryDatabase } from '../db/scratch.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { schemaFilesOf, withSchemaEngine } from '../engine/engine.ts'
import { readMigrationFolders } from '../history/history.ts'
import { reconcileSteps } from '../adopt/reconcile.ts'
import type { PlanStep } from '../adopt/steps.ts'
import { catalogExtras, runAndRead, runIn } from './scratch.ts'

/** The schema the history is replayed in (by generateMigration and migrate check): Prisma's diffs against it come back unqualified. */
export const HISTORY_SCHEMA = 'public'
/** Where the schema file and extras are built from nothing, for the state the migration must reach. */
const TARGET = 'artstore_target'

/** One half of a migration: Prisma's part, then the extras' steps. */
export interface MigrationScript {
  /** Prisma's diff script, unqualified, `-- Kind` headers and all; empty when Prisma sees no change. */
  prisma: string
  /** What Prisma cannot express (functions, triggers, check and unique constraints), from the catalogs. */
  extras: PlanStep[]
}

export interface GeneratedMigration {
  /** True when the history already builds the schema file and extras: there is nothing to migrate. */
  empty: boolean
  up: MigrationScript
  down: MigrationScript
  /** The catalog the history builds: what the migration starts from (and down.sql returns to). */
  before: Catalog
  /** The catalog the schema file and extras build from nothing: what the migration must reach. */
  after: Catalog
}

/** The differences of two catalogs, one short line each (empty when they are the same). */
export const catalogDifferences = (expected: Catalog, actual: Catalog): string[] =>
  compareCatalogs(expected, actual)
    .filter((i: CheckItem) => !i.ok)
    .map((i) => `${i.category} ${i.name}: ${i.actual ?? 'differs'}${i.expected && i.expected !== 'absent' ? ` (expected ${i.expected})` : ''}`)

/** Prisma's "no change" output is empty or only comments. */
const isEmptyScript = (sql: string) => !sql.split('\n').some((l) => l.trim() && !l.trim().startsWith('--'))

/** The script text of a half: Prisma's part, then each extras step under a `-- Extra` header. */
export function scriptText(s: MigrationScript): string {
  const parts = [isEmptyScript(s.prisma) ? '' : s.prisma.replace(/\n*$/, '\n')]
  for (const step of s.extras) parts.push(`-- Extra\n-- ${step.reason}${step.table ? ` (${step.table})` : ''}\n${step.sql.replace(/\n*$/, '\n')}`)
  return parts.filter(Boolean).join('\n')
}

/**
 * The steps that bring the extras of `actual` to those of `expected`, from the catalogs: the adopt
 * reconciliation (defaults, constraints, indexes, functions, triggers), then the functions `expected`
 * no longer has, dropped last (after the triggers that call them).
 */
function extrasSteps(expected: Catalog, actual: Catalog, extras: readonly Extra[]): PlanStep[] {
  const tables = [...new Set([...expected.tables, ...actual.tables])]
  const steps: PlanStep[] = expected.extensions
    .filter((e) => !actual.extensions.includes(e))
    .map((e) => ({ kind: 'Extra', sql: `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e)};`, safety: 'safe', reason: `extension ${e}` }))
  steps.push(...enumOrderSteps(expected, actual))
  steps.push(...reconcileSteps(expected, actual, extras, tables))
  for (const f of actual.functions.filter((a) => !expected.functions.some((e) => e.name === a.name && e.args === a.args))) {
    steps.push({
      kind: 'Extra',
      sql: `DROP FUNCTION ${quoteIdent(f.name)}(${f.args});`,
      safety: 'safe',
      reason: `function ${f.name} is no longer in the extras`,
    })
  }
  // Prisma's reverse diff never drops an extension the schema file declares.
  for (const e of actual.extensions.filter((x) => !expected.extensions.includes(x))) {
    steps.push({ kind: 'Extra', sql: `DROP EXTENSION IF EXISTS ${quoteIdent(e)};`, safety: 'safe', reason: `extension ${e} is no longer declared` })
  }
  return steps
}

export class MigrationNotExactError extends FailureError {
  /** The scripts as far as they were worked out (migrate new --dry-run prints them). */
  up?: MigrationScript
  down?: MigrationScript
  constructor(
    readonly half: 'migration.sql' | 'down.sql',
    readonly differences: string[],
  ) {
    super(
      `the generated ${half} would not reach the expected catalog (${differences.slice(0, 3).join('; ')}): nothing was written; make the change in smaller steps with npx artstore-db migrate new, or write that part by hand and run npx artstore-db migrate check`,
    )
  }
}

/**
 * Prisma's script without its own transaction control: Prisma wraps an enum recreation in
 * `BEGIN; … COMMIT;` (its migrations run outside a transaction), which would end the one transaction
 * a migration runs in here. The statements inside stay, in order.
 */
export function withoutTransactionControl(script: string): string {
  return script.replace(/^[ \t]*(BEGIN|COMMIT)[ \t]*;[ \t]*\n?/gim, '')
}

/**
 * Prisma's reverse diff spells a time column without a precision as `TIMESTAMPTZ(6)` (6 is the
 * default, but the catalog then holds `timestamp(6) with time zone`, not what the history built).
 * Gives each column of `before` without a precision its spelling back, in the statements that
 * create or change its table. Only `(6)` after a time type is touched.
 */
export function restoreDefaultPrecision(script: string, before: Catalog): string {
  const plain = before.columns.filter((c) => /^(time|timestamp|interval)( with(?:out)? time zone)?$/.test(c.type))
  if (!plain.length) return script
  return script
    .split(/(?<=;)(?=\s*\n)/)
    .map((stmt) => {
      const table = /(?:CREATE|ALTER) TABLE\s+(?:"[^"]+"\.)?"((?:[^"]|"")+)"/.exec(stmt)?.[1]?.replace(/""/g, '"')
      if (!table) return stmt
      for (const c of plain.filter((x) => x.table === table)) {
        const name = `"${c.name.replace(/"/g, '""')}"`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        stmt = stmt.replace(new RegExp(`(${name}\\s+(?:SET DATA TYPE\\s+)?(?:TIMESTAMPTZ|TIMESTAMP|TIMETZ|TIME|INTERVAL))\\(6\\)`, 'g'), '$1')
      }
      return stmt
    })
    .join('')
}

/** `e` or `"E"`: an enum name as format_type prints it, unquoted. */
const unquoted = (t: string) => (t.startsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t)

/**
 * What Prisma's diff does not see: an enum whose labels are the same but in another order (or an
 * order Prisma's ADD VALUE cannot give). Each such enum is recreated in the expected order, in plain
 * statements (no transaction control): the old type renamed away, the new one created, each column of
 * it converted through text (its default set again), the old type dropped.
 */
export function enumOrderSteps(expected: Catalog, actual: Catalog): PlanStep[] {
  const steps: PlanStep[] = []
  for (const e of expected.enums) {
    const have = actual.enums.find((a) => a.name === e.name)
    if (!have || have.labels.join('\u0000') === e.labels.join('\u0000')) continue
    const type = quoteIdent(e.name)
    const old = quoteIdent(`${e.name}_old`)
    const sql = [`ALTER TYPE ${type} RENAME TO ${old};`, `CREATE TYPE ${type} AS ENUM (${e.labels.map((l) => `'${l.replace(/'/g, "''")}'`).join(', ')});`]
    for (const c of actual.columns.filter((x) => unquoted(x.type.replace(/\[\]$/, '')) === e.name)) {
      const array = c.type.endsWith('[]')
      const col = `ALTER TABLE ${quoteIdent(c.table)} ALTER COLUMN ${quoteIdent(c.name)}`
      const target = expected.columns.find((x) => x.table === c.table && x.name === c.name)
      if (c.default !== null) sql.push(`${col} DROP DEFAULT;`)
      sql.push(`${col} SET DATA TYPE ${type}${array ? '[]' : ''} USING (${quoteIdent(c.name)}::text${array ? '[]' : ''}::${type}${array ? '[]' : ''});`)
      const def = target?.default ?? null
      if (def !== null) sql.push(`${col} SET DEFAULT ${def};`)
    }
    sql.push(`DROP TYPE ${old};`)
    steps.push({ kind: 'Extra', sql: sql.join('\n'), safety: 'safe', reason: `enum ${e.name}: labels in the order ${e.labels.join(', ')}` })
  }
  return steps
}

/**
 * The catalog a module's schema file and extras build from nothing (what `baseline` would write),
 * read in a scratch schema of `c`'s database that is dropped again.
 */
export async function targetCatalog(c: pg.ClientBase, t: ModuleTarget, url: string): Promise<Catalog> {
  const target = await generateBaseline(t.module, { ...t, url })
  const after = await runAndRead(c, TARGET, target.up)
  await c.query(`drop schema ${quoteIdent(TARGET)} cascade`)
  return after
}

/** Prisma's diffs between the history replayed in `url`'s public schema and the module's schema file, unqualified. */
export async function prismaDiffs(t: ModuleTarget, url: string): Promise<{ up: string; down: string }> {
  const files = schemaFilesOf([t.module.schemaFile])
  const configDir = path.dirname(t.module.configFile)
  const historyUrl = new URL(url)
  historyUrl.searchParams.set('schema', HISTORY_SCHEMA)
  return withSchemaEngine({ url: historyUrl.toString() }, async (e) => {
    const live = { tag: 'schemaDatasource' as const, files, configDir }
    const model = { tag: 'schemaDatamodel' as const, files }
    const [up, down] = [(await e.diff({ from: live, to: model })).output, (await e.diff({ from: model, to: live })).output]
    // Prisma's reverse diff "creates" plpgsql, which every database has: noise, left out.
    const clean = (s: string) => {
      const script = s.replace(/-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "plpgsql"[^\n]*\n\n?/g, '')
      return isEmptyScript(script) ? '' : script.replaceAll(`"${HISTORY_SCHEMA}".`, '')
    }
    return { up: clean(up), down: clean(down) }
  })
}

/** Runs `fn` with a client on a temporary database (dropped afterwards) of the scratch server (ARTSTORE_SCRATCH_URL, else the target's) and its URL. */
export async function withScratchClient<T>(t: ModuleTarget, label: string, fn: (c: pg.Client, url: string) => Promise<T>): Promise<T> {
  return withTemporaryDatabase(scratchServer(t.url), label, async (url) => {
    return withClientOf({ connectionString: url }, (c) => fn(c, url))
  })
}

/**
 * The next migration of a module: what takes the catalog its committed history builds to the one its
 * schema file and extras build, and back. Worked out in a temporary database on the target's server
 * (created and dropped here; the module's own database is not touched):
 *
 * 1. the history's migration.sql files replayed → catalog *before*; the schema file and extras built
 *    from nothing → catalog *after*;
 * 2. up: Prisma's diff from the replayed database to the schema file, then the extras' steps from the
 *    catalogs; applied, the catalog must equal *after*;
 * 3. down: Prisma's reverse diff, then the extras' steps back to *before* (old function bodies and
 *    triggers from the catalog); applied, the catalog must equal *before*; up once more must reach
 *    *after* again.
 *
 * Throws MigrationNotExactError when either half falls short, rather than write a migration that is not.
 */
export async function generateMigration(t: ModuleTarget): Promise<GeneratedMigration> {
  const history = readMigrationFolders(t.module.migrationsDir)
  return withScratchClient(t, 'new', async (c, url) => {
    for (const m of history) await runIn(c, HISTORY_SCHEMA, m.up)
    const before = await runAndRead(c, HISTORY_SCHEMA, '')
    const after = await targetCatalog(c, t, url)
    const diffs = await prismaDiffs(t, url)
    const prismaUp = withoutTransactionControl(diffs.up)
    const prismaDown = restoreDefaultPrecision(withoutTransactionControl(diffs.down), before)
    const fail = (e: MigrationNotExactError, up: MigrationScript, down?: MigrationScript) => Object.assign(e, { up, down })

    const afterPrisma = await runAndRead(c, HISTORY_SCHEMA, prismaUp)
    const up: MigrationScript = { prisma: prismaUp, extras: extrasSteps(after, afterPrisma, readExtras(t.module)) }
    if (!prismaUp && !up.extras.length) return { empty: true, up, down: { prisma: '', extras: [] }, before, after }
    const reached = await runAndRead(c, HISTORY_SCHEMA, up.extras.map((s) => s.sql).join('\n'))
    const upShort = catalogDifferences(after, reached)
    if (upShort.length) throw fail(new MigrationNotExactError('migration.sql', upShort), up)

    const afterPrismaDown = await runAndRead(c, HISTORY_SCHEMA, prismaDown)
    const down: MigrationScript = { prisma: prismaDown, extras: extrasSteps(before, afterPrismaDown, catalogExtras(before)) }
    const returned = await runAndRead(c, HISTORY_SCHEMA, down.extras.map((s) => s.sql).join('\n'))
    const downShort = catalogDifferences(before, returned)
    if (downShort.length) throw fail(new MigrationNotExactError('down.sql', downShort), up, down)

    const again = await runAndRead(c, HISTORY_SCHEMA, scriptText(up))
    const againShort = catalogDifferences(after, again)
    if (againShort.length) throw fail(new MigrationNotExactError('migration.sql', againShort), up, down)
    return { empty: false, up, down, before, after }
  })
}

/**
 * Checks migrations about to be written as a sequence, on a temporary database: after the history,
 * their migration.sql files one after another (each as deploy runs it) reach `g.after`, and their
 * down.sql files, newest first, return to `g.before`.
 */
export async function checkSequence(t: ModuleTarget, parts: readonly { up: string; down: string }[], g: GeneratedMigration): Promise<void> {
  const history = readMigrationFolders(t.module.migrationsDir)
  await withScratchClient(t, 'new', async (c) => {
    for (const m of history) await runIn(c, HISTORY_SCHEMA, m.up)
    let state = g.before
    for (const p of parts) state = await runAndRead(c, HISTORY_SCHEMA, p.up)
    const upShort = catalogDifferences(g.after, state)
    if (upShort.length) throw new MigrationNotExactError('migration.sql', upShort)
    for (const p of [...parts].reverse()) state = await runAndRead(c, HISTORY_SCHEMA, p.down)
    const downShort = catalogDifferences(g.before, state)
    if (downShort.length) throw new MigrationNotExactError('down.sql', downShort)
  })
}
