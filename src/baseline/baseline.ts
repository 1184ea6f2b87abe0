import fs from 'node:fs'
import path from 'node:path'
import { createTwoFilesPatch } from 'diff'
import { eachTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import type { ModuleTarget } from '../db/targets.ts'
import { projectRoot, type ModuleInfo } from '../modules.ts'
import { SchemaEngineError, schemaFilesOf, withSchemaEngine, type SchemaEngine } from '../engine/engine.ts'
import { composeDown, composeUp } from './compose.ts'
import { BaselineGenerationError, SchemaInvalidError } from './errors.ts'
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
  return text.split('\n').map((l) => l.trim()).find(Boolean) ?? 'the schema engine failed'
}

type DiffTarget = Parameters<SchemaEngine['diff']>[0]['from']

async function diff(engine: SchemaEngine, module: ModuleInfo, from: DiffTarget, to: DiffTarget): Promise<string> {
  try {
    const { output } = await engine.diff({ from, to })
    return output
  } catch (e) {
    if (!(e instanceof SchemaEngineError)) throw e
    if (/validation|error: /i.test(e.message) && /schema/i.test(e.message)) throw new SchemaInvalidError(relative(module.schemaFile), schemaComplaint(e.message))
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

export interface BaselineOptions extends CommandOptions {
  /** Compare only: report differences, write nothing (CI). */
  check?: boolean
  /** Show what would be written, write nothing. */
  dryRun?: boolean
}

export interface ModuleBaselineResult {
  module: ModuleInfo['name']
  /** `same`: the committed files are what regeneration produces; `written`: they were (re)written;
   * `differs`: they are not, and nothing was written (check or dry run). */
  status: 'same' | 'written' | 'differs'
  files: string[]
  /** Unified diff from the committed files to the regenerated ones. */
  diff?: string
}

function patch(file: string, before: string | undefined, after: string): string {
  return createTwoFilesPatch(`a/${file}`, `b/${file}`, before ?? '', after, before === undefined ? '(missing)' : '', '', { context: 3 })
}

/** Regenerates one module's baseline and compares it with the committed files; writes unless check/dryRun. */
export async function baselineModule(t: ModuleTarget, opts: Pick<BaselineOptions, 'check' | 'dryRun'> = {}): Promise<ModuleBaselineResult> {
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
  return { module: t.module.name, status: 'written', files: paths, diff: diffText }
}

/** `baseline`: regenerate (or, with check/dryRun, compare) each selected module's baseline. */
export function baseline(opts: BaselineOptions = {}): Promise<ModuleBaselineResult[]> {
  return withCheckedTargets(opts, async (targets) => {
    return eachTarget(targets, (t) => baselineModule(t, opts))
  })
}
