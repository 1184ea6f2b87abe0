import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { createTwoFilesPatch } from 'diff'
import { eachTarget, moduleStep, withCheckedTargets, type CommandOptions } from '../context.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { projectRoot, type ModuleInfo } from '../modules.ts'
import { SchemaEngineError, schemaFilesOf, withSchemaEngine, type SchemaEngine } from '../engine/engine.ts'
import { composeDown, composeUp } from './compose.ts'
import { BaselineFrozenError, BaselineGenerationError, SchemaInvalidError } from './errors.ts'
import { readLocalMigrations } from '../history/history.ts'
import { readExtras } from './extras.ts'

export const BASELINE_NAME = '0_baseline'

/** The module's baseline folder: `prisma/<module>/migrations/0_baseline/`. */
export const baselineDir = (module: ModuleInfo) => path.join(module.migrationsDir, BASELINE_NAME)

export interface BaselineFiles {
  /** migration.sql: what `migrate deploy` applies. */
  up: string
  /** down.sql: what `rollback` runs. */
  down: string
}

const relative = (file: string) => path.relative(projectRoot, file)

/** The first line of Prisma's complaint about a schema, with its location: "error: … --> schema.prisma:12". */
function schemaComplaint(text: string): string {
  const error = /error: (.+)/.exec(text)?.[1]?.trim()
  const at = /-->\s+\S*?:(\d+)/.exec(text)?.[1]
  if (error) return at ? `${error} (line ${at})` : error
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean) ?? 'the schema engine failed'
  )
}

type DiffTarget = Parameters<SchemaEngine['diff']>[0]['from']

async function diff(engine: SchemaEngine, module: ModuleInfo, from: DiffTarget, to: DiffTarget): Promise<string> {
  try {
    const { output } = await engine.diff({ from, to })
    return output
  } catch (e) {
    if (!(e instanceof SchemaEngineError)) throw e
    if (/validation|error: /i.test(e.message) && /schema/i.test(e.message))
      throw new SchemaInvalidError(relative(module.schemaFile), schemaComplaint(e.message))
    throw new BaselineGenerationError(module.name, schemaComplaint(e.message))
  }
}

/**
 * Regenerates a module's baseline from its Prisma schema and extras. The database is only the
 * engine's connection: nothing is read from or written to it. The output is byte-identical for
 * the same schema, extras and Prisma version.
 */
export async function generateBaseline(module: ModuleInfo, target: ModuleTarget): Promise<BaselineFiles> {
  const u = new URL(target.url)
  u.searchParams.delete('schema') // diff in "public", which composeUp strips: the baseline stays unqualified
  const extras = readExtras(module)
  const schema = { tag: 'schemaDatamodel' as const, files: schemaFilesOf([module.schemaFile]) }
  return withSchemaEngine({ url: u.toString() }, async (engine) => {
    const up = composeUp(await diff(engine, module, { tag: 'empty' }, schema), extras)
    const down = composeDown(await diff(engine, module, schema, { tag: 'empty' }), up, extras)
    return { up, down }
  })
}

/** The committed baseline files, or undefined for each one that is missing. */
export function readCommittedBaseline(module: ModuleInfo): Partial<BaselineFiles> {
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined)
  return { up: read(path.join(baselineDir(module), 'migration.sql')), down: read(path.join(baselineDir(module), 'down.sql')) }
}

/**
 * The checksum of 0_baseline/migration.sql as recorded when it was written, in sha256sum's format
 * (`<hex>  migration.sql`, checkable with `sha256sum -c`). Every deployed database holds this
 * checksum in its history: once later migrations exist, the baseline must never change again.
 */
export const BASELINE_RECORD = 'migration.sql.sha256'

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** The recorded checksum of the module's baseline, if there is a record. */
export function recordedBaselineChecksum(module: ModuleInfo): string | undefined {
  const file = path.join(baselineDir(module), BASELINE_RECORD)
  return fs.existsSync(file) ? /^[0-9a-f]{64}/.exec(fs.readFileSync(file, 'utf8'))?.[0] : undefined
}

const writeRecord = (module: ModuleInfo, up: string) => fs.writeFileSync(path.join(baselineDir(module), BASELINE_RECORD), `${sha256(up)}  migration.sql\n`)

/** The module's migrations after the baseline (from then on the baseline is frozen). */
export const laterMigrations = (module: ModuleInfo): string[] =>
  readLocalMigrations(module.migrationsDir)
    .map((m) => m.name)
    .filter((n) => n !== BASELINE_NAME)

export interface BaselineOptions extends CommandOptions {
  /** Compare only: report differences, write nothing (CI). */
  check?: boolean
  /** Show what would be written, write nothing. */
  dryRun?: boolean
}

export interface ModuleBaselineResult {
  module: ModuleInfo['name']
  /** `same`: the committed files are what regeneration produces; `written`: they were (re)written;
   * `differs`: they are not, and nothing was written (check or dry run); `frozen`: later migrations
   * exist, and the baseline still has its recorded checksum (schema changes are in those migrations). */
  status: 'same' | 'written' | 'differs' | 'frozen'
  files: string[]
  /** Unified diff from the committed files to the regenerated ones. */
  diff?: string
}

function patch(file: string, before: string | undefined, after: string): string {
  return createTwoFilesPatch(`a/${file}`, `b/${file}`, before ?? '', after, before === undefined ? '(missing)' : '', '', { context: 3 })
}

/** Regenerates one module's baseline and compares it with the committed files; writes unless check/dryRun. */
export async function baselineModule(t: ModuleTarget, opts: Pick<BaselineOptions, 'check' | 'dryRun'> = {}): Promise<ModuleBaselineResult> {
  const later = laterMigrations(t.module)
  if (later.length) return frozenBaseline(t.module, later, opts)
  const fresh = await generateBaseline(t.module, t)
  const committed = readCommittedBaseline(t.module)
  const files = [
    { name: 'migration.sql', fresh: fresh.up, committed: committed.up },
    { name: 'down.sql', fresh: fresh.down, committed: committed.down },
  ].map((f) => ({ ...f, path: path.join(baselineDir(t.module), f.name) }))
  const paths = files.map((f) => relative(f.path))
  const changed = files.filter((f) => f.committed !== f.fresh)
  if (!changed.length) return { module: t.module.name, status: 'same', files: paths }
  const diffText = changed.map((f) => patch(relative(f.path), f.committed, f.fresh)).join('')
  if (opts.check || opts.dryRun) return { module: t.module.name, status: 'differs', files: paths, diff: diffText }
  fs.mkdirSync(baselineDir(t.module), { recursive: true })
  for (const f of changed) fs.writeFileSync(f.path, f.fresh)
  writeRecord(t.module, fresh.up)
  return { module: t.module.name, status: 'written', files: paths, diff: diffText }
}

/**
 * A baseline with later migrations after it: never regenerated (it would fold their changes in, and
 * every deployed database would see it as modified). Checked against its recorded checksum instead.
 */
function frozenBaseline(module: ModuleInfo, later: string[], opts: Pick<BaselineOptions, 'check' | 'dryRun'>): ModuleBaselineResult {
  if (!opts.check && !opts.dryRun) throw new BaselineFrozenError(module.name, later)
  // An instance's baseline is rendered from the template's, whose record is the one kept.
  const source = module.template ?? module
  const up = readCommittedBaseline(source).up
  const recorded = recordedBaselineChecksum(source)
  const files = [path.join(baselineDir(source), 'migration.sql')].map(relative)
  if (up !== undefined && recorded !== undefined && sha256(up) === recorded) return { module: module.name, status: 'frozen', files }
  const why =
    up === undefined
      ? 'migration.sql is missing'
      : recorded === undefined
        ? `${BASELINE_RECORD} is missing`
        : `migration.sql no longer has its recorded checksum ${recorded.slice(0, 16)}`
  return {
    module: module.name,
    status: 'differs',
    files,
    diff: `${files[0]}: ${why}: restore it from git (every deployed database holds the recorded checksum)\n`,
  }
}

/** `baseline`: regenerate (or, with check/dryRun, compare) each selected module's baseline. */
export function baseline(opts: BaselineOptions = {}): Promise<ModuleBaselineResult[]> {
  return withCheckedTargets(opts, async (targets) => {
    return eachTarget(targets, (t) => moduleStep(opts, t, () => baselineModule(t, opts)))
  })
}

/** The tables a module's committed baseline creates. */
export function baselineTables(module: ModuleInfo): string[] {
  const up = readCommittedBaseline(module).up ?? ''
  return [...up.matchAll(/^CREATE TABLE "([^"]+)"/gm)].map((m) => m[1])
}

/** sha256 of the committed baseline: the checksum `migrate deploy` records for it. */
export function baselineChecksum(module: ModuleInfo): string | undefined {
  const up = readCommittedBaseline(module).up
  return up === undefined ? undefined : sha256(up)
}
