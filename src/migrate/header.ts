import { statements } from '../adopt/reconcile.ts'

/**
 * The header of a migration.sql: the comment lines at the top of the file, before its first
 * statement. Two of its lines mean something to the tools:
 *
 * - `-- artstore: no-transaction`: the migration runs outside a transaction (CREATE INDEX
 *   CONCURRENTLY, batched backfills that COMMIT); without it, a migration runs in one transaction.
 * - `-- Dangerous steps allowed: <reason>`, followed by one `--   <rule>: <finding>` line per
 *   dangerous step it allows: written by `migrate allow` (or `migrate new --allow-dangerous`).
 */
export interface MigrationHeader {
  /** The `-- artstore: no-transaction` line is there. */
  noTransaction: boolean
  /** The recorded allowance, if any: its reason and the findings it allows, as recorded. */
  allowance?: { reason: string; findings: string[] }
}

/** The header line that declares a migration to run outside a transaction. */
export const NO_TRANSACTION_LINE = '-- artstore: no-transaction'
/** The header line that records why a migration's dangerous steps were allowed. */
export const ALLOWANCE_PREFIX = '-- Dangerous steps allowed: '
/** How each allowed finding is recorded under the allowance line. */
export const ALLOWED_FINDING_PREFIX = '--   '

/** The header's lines: the leading comment and blank lines of the file. */
export function headerLines(sql: string): string[] {
  const lines: string[] = []
  for (const line of sql.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (line.trim() && !line.trimStart().startsWith('--')) break
    lines.push(line)
  }
  return lines
}

/** Reads a migration.sql's header (see MigrationHeader). */
export function readMigrationHeader(sql: string): MigrationHeader {
  const lines = headerLines(sql).map((l) => l.trimEnd())
  const header: MigrationHeader = { noTransaction: lines.some((l) => l.trim() === NO_TRANSACTION_LINE) }
  const at = lines.findIndex((l) => l.startsWith(ALLOWANCE_PREFIX))
  if (at >= 0) {
    const findings: string[] = []
    for (const l of lines.slice(at + 1)) {
      if (!l.startsWith(ALLOWED_FINDING_PREFIX) || !l.slice(ALLOWED_FINDING_PREFIX.length).trim()) break
      findings.push(l.slice(ALLOWED_FINDING_PREFIX.length).trim())
    }
    const reason = lines[at].slice(ALLOWANCE_PREFIX.length).trim()
    if (reason) header.allowance = { reason, findings }
  }
  return header
}

/**
 * Whether a migration runs outside a transaction: it declares it (`-- artstore: no-transaction`), or
 * its one statement is a CONCURRENTLY index build (such a migration was always run alone, outside a
 * transaction block; those written before the declaration existed have no header line, and their
 * checksums are on deployed databases).
 */
export function runsOutsideTransaction(sql: string): boolean {
  if (readMigrationHeader(sql).noTransaction) return true
  const all = statements(sql)
  return all.length === 1 && /^\s*(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX)\s+CONCURRENTLY\b/i.test(all[0])
}

/**
 * The text with its allowance block (the allowance line and its finding lines) replaced by `block`
 * (removed when `block` is empty). A new block goes after the generated first line
 * (`-- <folder>: …`), or at the top of the file.
 */
export function withAllowanceBlock(sql: string, block: string[]): string {
  const lines = sql.split('\n')
  const header = headerLines(sql).length
  const at = lines.findIndex((l, i) => i < header && l.startsWith(ALLOWANCE_PREFIX))
  if (at >= 0) {
    let end = at + 1
    while (end < header && lines[end].startsWith(ALLOWED_FINDING_PREFIX) && lines[end].slice(ALLOWED_FINDING_PREFIX.length).trim()) end++
    lines.splice(at, end - at, ...block)
    return lines.join('\n')
  }
  const first = /^-- [^\s:]+: /.test(lines[0] ?? '') ? 1 : 0
  lines.splice(first, 0, ...block)
  return lines.join('\n')
}
