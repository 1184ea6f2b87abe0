import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Catalog } from '../catalog/read.ts'
import { EnvironmentError } from '../errors.ts'
import { projectRoot } from '../modules.ts'
import { alterClauses } from '../adopt/plan.ts'
import { classifyAlterClause, classifyKind, splitScript } from '../adopt/steps.ts'
import { statements } from '../adopt/reconcile.ts'

/** One finding of the lint: the project's data-loss rules or Squawk's. */
export interface LintFinding {
  source: 'artstore-db' | 'squawk'
  rule: string
  /** `error`: a dangerous step, refused unless allowed with a reason; `warning`: shown, never refused. */
  level: 'error' | 'warning'
  message: string
  /** 1-based line in migration.sql (Squawk's findings). */
  line?: number
}

/**
 * Squawk's rules that fail a migration: each means lost data or clients that break (the same steps the
 * project's own rules call dangerous). Every other rule Squawk reports is shown as a warning: locks and
 * table scans matter on a live table, and the author decides (see README "The next migration").
 */
export const SQUAWK_FAILING_RULES = [
  'ban-drop-column',
  'ban-drop-table',
  'ban-drop-database',
  'ban-truncate-cascade',
  'adding-required-field',
  'renaming-column',
  'renaming-table',
] as const

/** The project's Squawk settings (rules left out, PostgreSQL version, one transaction per migration). */
export const squawkConfig = path.join(projectRoot, '.squawk.toml')

export class SquawkUnavailableError extends EnvironmentError {
  constructor(detail: string) {
    super(`the migration linter (squawk-cli) could not run: ${detail}: run npm ci to install it`)
  }
}

interface SquawkViolation {
  line: number
  rule_name: string
  message: string
  help?: string | null
}

/** Squawk on one script, offline (its platform binary from npm), with the project's .squawk.toml. */
export function squawk(sql: string): LintFinding[] {
  let bin: string
  try {
    bin = path.join(path.dirname(createRequire(import.meta.url).resolve('squawk-cli/package.json')), 'js', 'bin', 'squawk')
  } catch {
    throw new SquawkUnavailableError('the package is not installed')
  }
  // A migration whose one statement is CONCURRENTLY runs outside a transaction block (see
  // concurrentlyFindings); every other migration runs in one, as .squawk.toml assumes.
  const alone = /\bCONCURRENTLY\b/i.test(sql) ? ['--no-assume-in-transaction'] : []
  const run = spawnSync(process.execPath, [bin, '-c', squawkConfig, ...alone, '--reporter', 'json', '--stdin-filepath', 'migration.sql'], {
    input: sql,
    encoding: 'utf8',
  })
  if (run.error) throw new SquawkUnavailableError(run.error.message)
  // 0: clean; 1: findings; anything else is Squawk's own failure.
  if (run.status !== 0 && run.status !== 1) throw new SquawkUnavailableError((run.stderr || `exit code ${run.status}`).trim().split('\n')[0])
  let violations: SquawkViolation[]
  try {
    violations = JSON.parse(run.stdout || '[]') as SquawkViolation[]
  } catch {
    throw new SquawkUnavailableError(`unreadable report: ${run.stdout.slice(0, 80)}`)
  }
  return violations.map((v) => ({
    source: 'squawk',
    rule: v.rule_name,
    level: (SQUAWK_FAILING_RULES as readonly string[]).includes(v.rule_name) ? 'error' : 'warning',
    message: v.help ? `${v.message} ${v.help}` : v.message,
    line: v.line + 1,
  }))
}

/**
 * The project's data-loss rules on a migration script, the classification `adopt` uses: drop column
 * or table, a narrowing type change, NOT NULL over existing rows, a new NOT NULL column without a
 * default, removed enum labels. A table that loses a column and gains one is flagged as a likely
 * rename, which Prisma can only see as drop + add. `before` is the catalog the migration starts from.
 */
export async function dataLossFindings(sql: string, before: Catalog): Promise<LintFinding[]> {
  const findings: LintFinding[] = []
  const error = (message: string): LintFinding => ({ source: 'artstore-db', rule: 'data-loss', level: 'error', message })
  const dropped = new Map<string, string[]>()
  const added = new Map<string, string[]>()
  for (const { kind, sql: block } of splitScript(sql)) {
    if (kind === 'Extra') {
      for (const m of block.matchAll(/^DROP (TRIGGER|FUNCTION) ("[^"]+"|\w+)/gim)) {
        findings.push({ source: 'artstore-db', rule: 'behaviour-change', level: 'warning', message: `drops ${m[1].toLowerCase()} ${m[2].replace(/"/g, '')}` })
      }
      continue
    }
    if (kind !== 'AlterTable') {
      const r = classifyKind(kind, block)
      if (!r.safe) findings.push(error(`${kind}: ${r.reason}`))
      continue
    }
    for (const stmt of block
      .split(/;\n/)
      .map((s) => s.trim())
      .filter(Boolean)) {
      const alter = alterClauses(stmt)
      if (!alter) continue
      for (const clause of alter.clauses) {
        const r = await classifyAlterClause(clause, { table: alter.table, live: before, nullCount: async () => Number.NaN })
        const column = /^(ADD|DROP) COLUMN\s+"([^"]+)"/.exec(clause)
        if (column) (column[1] === 'ADD' ? added : dropped).set(alter.table, [...((column[1] === 'ADD' ? added : dropped).get(alter.table) ?? []), column[2]])
        if (!r.safe) findings.push(error(`${alter.table}: ${r.reason}`))
      }
    }
  }
  for (const [table, gone] of dropped) {
    const fresh = added.get(table)
    if (fresh?.length) {
      findings.push(
        error(
          `${table}: drops ${gone.join(', ')} and adds ${fresh.join(', ')}: if this is a rename, Prisma can only see drop + add; write ALTER TABLE "${table}" RENAME COLUMN … instead`,
        ),
      )
    }
  }
  return findings
}

/**
 * CREATE/DROP INDEX CONCURRENTLY must be the only statement of its migration: deploy runs a migration
 * as one query, and PostgreSQL runs several statements in one transaction block, which CONCURRENTLY
 * refuses (the migration would fail on every database).
 */
export function concurrentlyFindings(sql: string): LintFinding[] {
  const all = statements(sql)
  if (all.length < 2 || !all.some((s) => /\bCONCURRENTLY\b/i.test(s))) return []
  return [
    {
      source: 'artstore-db',
      rule: 'concurrently-alone',
      level: 'error',
      message:
        'CONCURRENTLY must be the only statement of its migration (several run in one transaction block, which it refuses): npx artstore-db migrate new --concurrently writes each such index in a migration of its own',
    },
  ]
}

/** Both linters on one migration script; errors first. */
export async function lintMigration(sql: string, before: Catalog): Promise<LintFinding[]> {
  const findings = [...(await dataLossFindings(sql, before)), ...concurrentlyFindings(sql), ...squawk(sql)]
  return [...findings.filter((f) => f.level === 'error'), ...findings.filter((f) => f.level === 'warning')]
}

/** The header line that records why a migration's dangerous steps were allowed. */
export const ALLOWANCE_PREFIX = '-- Dangerous steps allowed: '

/** The reason recorded in a migration.sql's allowance header, if it has one. */
export function recordedAllowance(sql: string): string | undefined {
  const line = sql.split('\n').find((l) => l.startsWith(ALLOWANCE_PREFIX))
  return line?.slice(ALLOWANCE_PREFIX.length).trim() || undefined
}
