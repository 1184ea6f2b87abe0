import fs from 'node:fs'
import path from 'node:path'
import { withCheckedTargets, type CommandOptions } from '../context.ts'
import { EnvironmentError, ModuleRequiredError, UsageError } from '../errors.ts'
import { SchemaInvalidError } from '../baseline/errors.ts'
import { readLocalMigrations, readMigrationFolders } from '../history/history.ts'
import { projectRoot, type ModuleInfo } from '../modules.ts'
import { splitScript } from '../adopt/steps.ts'
import { checkHistory } from './check.ts'
import { checkSequence, generateMigration, MigrationNotExactError, scriptText, type GeneratedMigration } from './generate.ts'
import { ALLOWANCE_PREFIX, ALLOWED_FINDING_PREFIX, NO_TRANSACTION_LINE, withAllowanceBlock } from './header.ts'
import { allowanceLine, isAllowable, lintMigration, type LintFinding } from './lint.ts'
import { withSafeForms, type Part } from './safe-forms.ts'
import { catalogProbe, RewriteState } from './rewrites.ts'

export class InvalidMigrationNameError extends UsageError {
  constructor(name: string) {
    super(`migration name "${name}" is not snake_case: use lower-case letters, digits and _, starting with a letter (e.g. --name add_priority)`)
  }
}

export class InvalidAllowanceError extends UsageError {
  constructor() {
    super('--allow-dangerous needs a reason of one line (e.g. --allow-dangerous "user_id replaced by admin_user_id, backfilled in 2026-11")')
  }
}

export class HistoryMissingError extends EnvironmentError {
  constructor(module: string) {
    super(`the ${module} module has no committed 0_baseline to build on: run npx artstore-db baseline --module ${module}`)
  }
}

export interface MigrateNewOptions extends CommandOptions {
  /** snake_case; the folder is `<UTC timestamp>_<name>`. */
  name: string
  /** Writes a migration with dangerous steps, recording this reason in its header. */
  allowDangerous?: string
  /**
   * Builds each new index on an existing table with CREATE INDEX CONCURRENTLY, each in a migration of
   * its own (PostgreSQL runs CONCURRENTLY only as a statement alone, outside a transaction block).
   */
  concurrently?: boolean
  /**
   * Writes the safe forms of the rewrite guard on tables that exist (see withSafeForms): each new
   * foreign key or CHECK NOT VALID and each SET NOT NULL through a NOT VALID check, validated in a
   * following `<name>_validate` migration. On by default (the guard at deploy refuses the plain forms on
   * a large table); `false` writes Prisma's plain forms, one migration (one history row, one rollback
   * step), which is what a table that stays small needs.
   */
  safeForms?: boolean
  /** Work it all out and lint it, write nothing. */
  dryRun?: boolean
  /**
   * A data-only migration: migration.sql and down.sql with nothing generated in them, only a header
   * saying where the hand-written SQL goes (the schema file and extras are not looked at).
   */
  empty?: boolean
}

/** One migration folder of the result. */
export interface NewMigration {
  /** The folder name. */
  migration: string
  /** Its files (or those that would be written), relative to the project. */
  files: string[]
  /** migration.sql and down.sql as written (or as they would be). */
  up: string
  down: string
  /** Both linters' findings on migration.sql, errors first; lines numbered as in the file. */
  findings: LintFinding[]
}

export interface MigrateNewResult extends Partial<NewMigration> {
  module: ModuleInfo['name']
  /**
   * `written`; `would-write` (dry run); `nothing-to-migrate` (the history already builds the schema
   * file and extras); `refused` (dangerous steps without --allow-dangerous, or a migration that the
   * checks of `migrate check` would reject, see `problems`: nothing written).
   */
  status: 'written' | 'would-write' | 'nothing-to-migrate' | 'refused'
  /** Why it was refused, besides dangerous steps: what `migrate check` would say of it, each with its fix. */
  problems: string[]
  /** The first (or only) migration's fields are above; with `concurrently`, one more per index. */
  also: NewMigration[]
  /** Every finding of every migration written (or refused). */
  findings: LintFinding[]
  files: string[]
  /** The recorded reason, when dangerous steps were allowed. */
  allowance?: string
}

const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/

/** `YYYYMMDDHHMMSS` in UTC, Prisma's migration folder prefix. */
const stamp = (d: Date) => d.toISOString().replace(/\D/g, '').slice(0, 14)

/** The smallest 14-digit prefix that sorts after `name` (undefined when none does, e.g. after `99_x`). */
function stampAfter(name: string): string | undefined {
  const digits = /^\d*/.exec(name)![0]
  if (digits.length >= 14) {
    const next = (BigInt(digits.slice(0, 14)) + 1n).toString().padStart(14, '0')
    return next.length === 14 ? next : undefined
  }
  // A shorter run of digits followed by something that sorts before a digit (or nothing): pad it.
  if (!name[digits.length] || name[digits.length] < '0') return digits.padEnd(14, '0')
  if (!digits) return undefined
  const next = (BigInt(digits) + 1n).toString().padStart(digits.length, '0')
  return next.length === digits.length ? next.padEnd(14, '0') : undefined
}

export class NoNameAfterError extends UsageError {
  constructor(last: string) {
    super(
      `no timestamped folder name sorts after the migration folder ${last}, and Prisma applies folders by name: rename it to start with a timestamp (e.g. 20261201000000_${last.replace(/^\d+_?/, '')}) before it is deployed, then run migrate new again`,
    )
  }
}

/**
 * `<timestamp>_<name>`: the current UTC time, or, when the last folder (by name, as Prisma applies
 * them) sorts after it (a clock behind, a folder named by hand), the first stamp that sorts after that
 * folder, whatever its name.
 */
export function nextFolderName(existing: readonly string[], name: string, now = new Date()): string {
  const last = [...existing].sort().at(-1)
  let prefix = stamp(now)
  if (last !== undefined && `${prefix}_${name}` <= last) {
    const after = stampAfter(last)
    if (!after || `${after}_${name}` <= last) throw new NoNameAfterError(last)
    prefix = after
  }
  return `${prefix}_${name}`
}

function header(module: ModuleInfo, folder: string, noTransaction: boolean): string {
  const lines = [`-- ${folder}: the next migration of the ${module.name} module, generated by \`artstore-db migrate new\`; review it before committing.`]
  if (noTransaction) lines.push(NO_TRANSACTION_LINE)
  return `${lines.join('\n')}\n\n`
}

/** The allowance block of a header: the reason, then each finding it allows. */
export const allowanceBlock = (reason: string, dangerous: readonly LintFinding[]) => [
  `${ALLOWANCE_PREFIX}${reason}`,
  ...dangerous.map((f) => `${ALLOWED_FINDING_PREFIX}${allowanceLine(f)}`),
]

/** The files of a data-only migration (`migrate new --empty`): headers that say where the SQL goes. */
function emptyMigration(module: ModuleInfo, folder: string): { up: string; down: string } {
  const up = [
    `-- ${folder}: a data migration of the ${module.name} module, written by \`artstore-db migrate new --empty\`.`,
    '-- Write its SQL below this header (UPDATE, INSERT … SELECT, DO blocks). deploy runs the whole file in one',
    '-- transaction with its history row: a failure changes nothing. Add the line',
    `-- "${NO_TRANSACTION_LINE}" to this header only if it must commit part-way (batched`,
    '-- backfills); see README "Data migrations". migrate check lints it like any migration.',
    '',
    '',
  ].join('\n')
  const down = [
    `-- Reverses ${folder}: write below the SQL that undoes it (rollback runs this file in one transaction with`,
    "-- the removal of the migration's history row). migrate check requires it to give back the catalog before it.",
    '',
    '',
  ].join('\n')
  return { up, down }
}

/** Writes the folder's files through a temporary folder, so that a migration is never half written. */
function writeFolder(dir: string, files: Record<string, string>): void {
  const temp = path.join(path.dirname(dir), `.${path.basename(dir)}.tmp`)
  fs.rmSync(temp, { recursive: true, force: true })
  fs.mkdirSync(temp, { recursive: true })
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(temp, name), text)
  fs.renameSync(temp, dir)
}

/**
 * The change split for `concurrently`: each new index on a table the history already has becomes a
 * part of its own, `CREATE INDEX CONCURRENTLY` alone (its down the plain DROP INDEX, which rollback runs
 * in a transaction with the history row); the rest stays in the first part.
 */
function splitConcurrentIndexes(g: GeneratedMigration): Part[] {
  const blocks = splitScript(g.up.prisma)
  const isLiveIndex = (b: { kind: string; sql: string }) => {
    const table = /^CREATE (?:UNIQUE )?INDEX "[^"]+" ON "([^"]+)"/.exec(b.sql)?.[1]
    return b.kind === 'CreateIndex' && !!table && g.before.tables.includes(table)
  }
  const indexes = blocks.filter(isLiveIndex).map((b) => ({ name: /INDEX "([^"]+)"/.exec(b.sql)![1], sql: b.sql }))
  if (!indexes.length) return [{ up: g.up, down: g.down }]
  const names = new Set(indexes.map((i) => i.name))
  const text = (bs: { kind: string; sql: string }[]) => bs.map((b) => `-- ${b.kind}\n${b.sql}\n`).join('\n')
  const downBlocks = splitScript(g.down.prisma).filter((b) => !(b.kind === 'DropIndex' && names.has(/INDEX "([^"]+)"/.exec(b.sql)?.[1] ?? '')))
  const rest: Part = { up: { ...g.up, prisma: text(blocks.filter((b) => !isLiveIndex(b))) }, down: { ...g.down, prisma: text(downBlocks) } }
  const parts = indexes.map((i) => ({
    suffix: i.name,
    noTransaction: true,
    up: { prisma: `-- CreateIndex\n${i.sql.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ')}\n`, extras: [] },
    down: { prisma: `-- DropIndex\nDROP INDEX "${i.name}";\n`, extras: [] },
  }))
  const restEmpty = !rest.up.prisma.trim() && !rest.up.extras.length
  return restEmpty ? parts : [rest, ...parts]
}

/**
 * `migrate new`: the next migration of one module, from its committed history to its schema file and
 * extras (see generateMigration), with a down.sql checked to restore the catalog, linted by the
 * project's data-loss rules and Squawk. Dangerous steps are refused unless allowed with a reason.
 * A storage-element migration is written to prisma/storage-element/ for every instance.
 */
export async function migrateNew(opts: MigrateNewOptions): Promise<MigrateNewResult> {
  if (!opts.module) throw new ModuleRequiredError("migrate new writes one module's migration at a time")
  if (!NAME_PATTERN.test(opts.name ?? '')) throw new InvalidMigrationNameError(opts.name ?? '')
  const allowance = opts.allowDangerous?.trim()
  if (opts.allowDangerous !== undefined && (!allowance || /[\r\n]/.test(allowance))) throw new InvalidAllowanceError()
  // A schema Prisma rejects is met here first: the command to run again once it is fixed is this one.
  const again = `npx artstore-db migrate new --module ${opts.module}${opts.prefix ? ` --prefix ${opts.prefix}` : ''} --name ${opts.name}`
  return withCheckedTargets(opts, async ([t]): Promise<MigrateNewResult> => {
    const module = t.module.template ?? t.module
    const existing = readLocalMigrations(module.migrationsDir).map((m) => m.name)
    if (!existing.length) throw new HistoryMissingError(module.name)
    const target = { ...t, module }
    const none = { module: module.name, also: [], findings: [], files: [], problems: [] }

    if (opts.empty) {
      const folder = nextFolderName(existing, opts.name)
      const { up, down } = emptyMigration(module, folder)
      const dir = path.join(module.migrationsDir, folder)
      const files = ['migration.sql', 'down.sql'].map((f) => path.relative(projectRoot, path.join(dir, f)))
      const result = { ...none, migration: folder, files, up, down }
      if (opts.dryRun) return { ...result, status: 'would-write' }
      writeFolder(dir, { 'migration.sql': up, 'down.sql': down })
      return { ...result, status: 'written' }
    }

    let generated: GeneratedMigration
    try {
      generated = await generateMigration(target)
    } catch (e) {
      if (!(e instanceof MigrationNotExactError)) throw e
      // Refused: nothing written; the scripts as far as they were worked out, for --dry-run to print.
      const folder = nextFolderName(existing, opts.name)
      const up = e.up ? header(module, folder, false) + scriptText(e.up) : ''
      const down = e.down ? scriptText(e.down) : ''
      return { ...none, migration: folder, up, down, status: 'refused', problems: [e.message] }
    }
    if (generated.empty) return { ...none, status: 'nothing-to-migrate' }

    let parts: Part[] = opts.concurrently ? splitConcurrentIndexes(generated) : [{ up: generated.up, down: generated.down }]
    // The safe forms of the part with Prisma's statements: a following `<name>_validate` migration when it defers a scan.
    const main = opts.safeForms !== false ? parts.findIndex((p) => !p.suffix) : -1
    if (main >= 0) {
      const [first, ...later] = withSafeForms(generated, parts[main], opts.name)
      parts = [...parts.slice(0, main), first, ...parts.slice(main + 1), ...later]
    }
    const names: string[] = [...existing]
    const drafts: (NewMigration & { dir: string; dangerous: LintFinding[] })[] = []
    // One state for the parts in order: a later part's lint sees what the earlier ones did to the tables.
    const rewrites = new RewriteState(catalogProbe(generated.before))
    for (const part of parts) {
      const folder = nextFolderName(names, part.suffix ? `${opts.name}_${part.suffix}`.slice(0, 63) : opts.name)
      names.push(folder)
      const text = header(module, folder, !!part.noTransaction) + scriptText(part.up)
      const findings = await lintMigration(text, generated.before, { rewrites })
      const dangerous = findings.filter(isAllowable)
      // The allowance block goes under the first line: the findings below it move down.
      const block = dangerous.length && allowance ? allowanceBlock(allowance, dangerous) : []
      for (const f of findings) if (f.line && f.line > 1) f.line += block.length
      const up = block.length ? withAllowanceBlock(text, block) : text
      const down = `-- Reverses ${folder}: generated by \`artstore-db migrate new\`, checked to restore the catalog before it.\n\n${scriptText(part.down)}`
      const dir = path.join(module.migrationsDir, folder)
      const files = ['migration.sql', 'down.sql'].map((f) => path.relative(projectRoot, path.join(dir, f)))
      drafts.push({ migration: folder, files, up, down, findings, dir, dangerous })
    }
    if (parts.length > 1) await checkSequence(target, drafts, generated)

    const [first, ...rest] = drafts.map(({ dir: _dir, dangerous: _dangerous, ...m }) => m)
    const dangerous = drafts.flatMap((d) => d.dangerous)
    const problems = drafts.flatMap((d) =>
      d.findings.filter((f) => f.level === 'error' && !isAllowable(f)).map((f) => `${d.migration}: ${f.rule}: ${f.message.split('\n')[0]}`),
    )
    const result = {
      ...none,
      ...first,
      also: rest,
      findings: drafts.flatMap((d) => d.findings),
      files: drafts.flatMap((d) => d.files),
      ...(dangerous.length && allowance ? { allowance } : {}),
    }
    if ((dangerous.length && !allowance) || problems.length) return { ...result, problems, status: 'refused' }
    // What migrate check would say of the history with these migrations, Prisma's drift included.
    const history = [...readMigrationFolders(module.migrationsDir), ...drafts.map((d) => ({ name: d.migration, up: d.up, down: d.down }))]
    const checked = await checkHistory(target, history, 'new', 'nothing was written')
    const own = checked.problems.filter((p) => !existing.some((m) => p.startsWith(`${m}/`) || p.startsWith(`${m} `) || p.startsWith(`${m}:`)))
    if (own.length) return { ...result, problems: own.map((p) => `${p}${/nothing was written$/.test(p) ? '' : ': nothing was written'}`), status: 'refused' }
    if (opts.dryRun) return { ...result, status: 'would-write' }
    for (const d of drafts) writeFolder(d.dir, { 'migration.sql': d.up, 'down.sql': d.down })
    return { ...result, status: 'written' }
  }).catch(SchemaInvalidError.rerun(again))
}
