import fs from 'node:fs'
import path from 'node:path'
import { withCheckedTargets, type CommandOptions } from '../context.ts'
import { ModuleRequiredError, RefusalError, UsageError } from '../errors.ts'
import { readMigrationFolders } from '../history/history.ts'
import { BASELINE_NAME } from '../baseline/baseline.ts'
import { projectRoot, type ModuleInfo } from '../modules.ts'
import { HISTORY_SCHEMA, withScratchClient } from './generate.ts'
import { withAllowanceBlock } from './header.ts'
import { allowanceLine, isAllowable, isRewrite, lintMigration, type LintFinding } from './lint.ts'
import { databaseVolatility } from './rewrites.ts'
import { allowanceBlock } from './new.ts'
import { runAndRead } from './scratch.ts'

export interface MigrateAllowOptions extends CommandOptions {
  /** The migration folder whose dangerous steps are allowed. */
  migration: string
  /** Why they are allowed: one line, recorded in the header. */
  reason: string
  /** Work it out, write nothing. */
  dryRun?: boolean
}

export interface MigrateAllowResult {
  module: ModuleInfo['name']
  migration: string
  /** The migration.sql, relative to the project. */
  file: string
  /** `written`, or `would-write` (dry run). */
  status: 'written' | 'would-write'
  reason: string
  /** The dangerous findings the allowance records, as recorded. */
  allowed: string[]
  /** migration.sql with its new header. */
  up: string
}

export class UnknownMigrationError extends UsageError {
  constructor(module: string, migration: string, known: string[]) {
    super(
      `the ${module} module has no migration folder ${migration}: name one of its later migrations (${known.join(', ') || 'there are none'}), e.g. npx artstore-db migrate allow ${known.at(-1) ?? '<migration>'} --module ${module} --reason "<why>"`,
    )
  }
}

export class InvalidReasonError extends UsageError {
  constructor() {
    super('--reason needs a reason of one line (e.g. --reason "users replaced by admin_users, copied in the migration before")')
  }
}

export class NothingToAllowError extends RefusalError {
  constructor(migration: string) {
    super(
      `${migration} has no dangerous steps and rewrites no existing table, so there is nothing to allow: if its header still records an allowance, delete those lines, then run npx artstore-db migrate check`,
    )
  }
}

/**
 * `migrate allow`: records in a migration's header why its dangerous steps (and its rewrites of
 * existing tables, which deploy refuses on a large table, see src/deploy/rewrite-guard.ts) are allowed,
 * with the findings it allows (`-- Dangerous steps allowed: <reason>`, then one `--   <rule>: <finding>` line
 * each), replacing the allowance it had. The findings are the lint's on the migration as it is, on the
 * catalog its history builds (replayed on a temporary database). `migrate check` then accepts it as
 * long as its findings stay these.
 */
export async function migrateAllow(opts: MigrateAllowOptions): Promise<MigrateAllowResult> {
  if (!opts.module) throw new ModuleRequiredError("migrate allow records one module's allowance at a time")
  const reason = opts.reason?.trim()
  if (!reason || /[\r\n]/.test(reason)) throw new InvalidReasonError()
  return withCheckedTargets(opts, async ([t]) => {
    const module = t.module.template ?? t.module
    const history = readMigrationFolders(module.migrationsDir)
    const at = history.findIndex((m) => m.name === opts.migration.replace(/\/+$/, ''))
    if (at < 1 || history[at].name === BASELINE_NAME) {
      throw new UnknownMigrationError(
        module.name,
        opts.migration,
        history.filter((m) => m.name !== BASELINE_NAME).map((m) => m.name),
      )
    }
    const m = history[at]
    const findings: LintFinding[] = await withScratchClient({ ...t, module }, 'allow', async (c) => {
      for (const h of history.slice(0, at)) await runAndRead(c, HISTORY_SCHEMA, h.up)
      return lintMigration(m.up, await runAndRead(c, HISTORY_SCHEMA, ''), { volatility: databaseVolatility(c) })
    })
    // The dangerous steps, and the rewrites of existing tables, which deploy refuses on a large table unless recorded.
    const dangerous = [...findings.filter(isAllowable), ...findings.filter(isRewrite)]
    if (!dangerous.length) throw new NothingToAllowError(m.name)
    const up = withAllowanceBlock(m.up, allowanceBlock(reason, dangerous))
    const file = path.join(m.dir, 'migration.sql')
    const result = { module: module.name, migration: m.name, file: path.relative(projectRoot, file), reason, allowed: dangerous.map(allowanceLine), up }
    if (opts.dryRun) return { ...result, status: 'would-write' }
    fs.writeFileSync(file, up)
    return { ...result, status: 'written' }
  })
}
