import { statements } from '../adopt/reconcile.ts'
import { parseDurationMs } from '../db/lock-retry.ts'
import { UsageError } from '../errors.ts'

/**
 * The header of a migration.sql: the comment lines at the top of the file, before its first
 * statement. Two of its lines mean something to the tools:
 *
 * - `-- artstore: no-transaction`: the migration runs outside a transaction (CREATE INDEX
 *   CONCURRENTLY); without it, a migration runs in one transaction.
 * - `-- artstore: batched table=<table> key=<column> [size=<rows>] [pause=<duration>]`: a backfill run
 *   in batches of the table's key range, one transaction each (see BatchedDeclaration).
 * - `-- Dangerous steps allowed: <reason>`, followed by one `--   <rule>: <finding>` line per
 *   dangerous step it allows: written by `migrate allow` (or `migrate new --allow-dangerous`).
 */
export interface MigrationHeader {
  /** The `-- artstore: no-transaction` line is there. */
  noTransaction: boolean
  /** The text after `-- artstore: batched`, when the line is there (read by batchedDeclaration). */
  batched?: string
  /** Every `-- artstore: …` line of the header, trimmed (the lint refuses those it does not know). */
  directives: string[]
  /** The recorded allowance, if any: its reason and the findings it allows, as recorded. */
  allowance?: { reason: string; findings: string[] }
}

/** How every header line that means something to the tools starts. */
export const DIRECTIVE_PREFIX = '-- artstore:'
/** The start of the header line that declares a batched backfill. */
export const BATCHED_PREFIX = '-- artstore: batched'
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
  const directives = lines.map((l) => l.trim()).filter((l) => l.startsWith(DIRECTIVE_PREFIX))
  const header: MigrationHeader = { noTransaction: directives.includes(NO_TRANSACTION_LINE), directives }
  const batched = directives.find((l) => l === BATCHED_PREFIX || l.startsWith(`${BATCHED_PREFIX} `))
  if (batched !== undefined) header.batched = batched.slice(BATCHED_PREFIX.length).trim()
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
  const header = readMigrationHeader(sql)
  if (header.noTransaction) return true
  if (header.batched !== undefined) return false
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

/**
 * A batched backfill, as its header line declares it:
 *
 * ```sql
 * -- artstore: batched table=audit_logs key=id size=1000
 * UPDATE "audit_logs" SET … WHERE "id" BETWEEN $1 AND $2 AND …;
 * ```
 *
 * The migration's one statement (an UPDATE or DELETE of `table`) runs once per batch, `$1` and `$2`
 * bound to the batch's first and last key (both inclusive), in key order (see src/backfill/run.ts).
 */
export interface BatchedDeclaration {
  /** The table whose key range is walked: its name, or schema and name (as PostgreSQL folds them). */
  table: string[]
  /** The key column (NOT NULL; the primary key, usually), as PostgreSQL folds it. */
  key: string
  /** The first batch's row count (later ones adapt to the batch time); default 1000. */
  size: number
  /** A pause between batches, in ms (default 0). */
  pauseMs: number
}

/** The default first batch size of a batched backfill. */
export const DEFAULT_BATCH_SIZE = 1000
/** The largest batch size a header may give. */
export const MAX_BATCH_SIZE = 1_000_000

const BATCHED_EXAMPLE = `${BATCHED_PREFIX} table=<table> key=<column> size=<rows>`

export class BatchedDeclarationError extends UsageError {
  constructor(problem: string) {
    super(`the header line "${BATCHED_PREFIX} …" ${problem}: write it as "${BATCHED_EXAMPLE}" (README "Batched backfills")`)
  }
}

/** A name as PostgreSQL reads it: `"Quoted"` as written, a bare one folded to lower case; undefined when it is not a name. */
function identifier(text: string): string | undefined {
  if (/^"(?:[^"]|"")+"$/.test(text)) return text.slice(1, -1).replace(/""/g, '"')
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(text) ? text.toLowerCase() : undefined
}

/** `schema.name` or `name`, each part quoted or bare; undefined when it is not such a name. */
function qualifiedName(text: string): string[] | undefined {
  const parts = text.match(/"(?:[^"]|"")*"|[^."]+|\./g) ?? []
  const names: string[] = []
  for (const [i, p] of parts.entries()) {
    if (i % 2 === 1) {
      if (p !== '.') return undefined
      continue
    }
    const n = identifier(p)
    if (n === undefined) return undefined
    names.push(n)
  }
  return names.length >= 1 && names.length <= 2 && parts.length % 2 === 1 ? names : undefined
}

/**
 * The batched declaration of a migration.sql, if its header has one; a malformed one (an unknown or
 * repeated setting, a missing table or key, a size that is not a whole number from 1 to 1 000 000, a
 * pause that is not a duration, beside `-- artstore: no-transaction`) throws BatchedDeclarationError.
 */
export function batchedDeclaration(sql: string): BatchedDeclaration | undefined {
  const header = readMigrationHeader(sql)
  if (header.batched === undefined) return undefined
  if (header.directives.filter((l) => l === BATCHED_PREFIX || l.startsWith(`${BATCHED_PREFIX} `)).length > 1)
    throw new BatchedDeclarationError('is there twice')
  if (header.noTransaction)
    throw new BatchedDeclarationError(`goes with "${NO_TRANSACTION_LINE}" (each batch is a transaction of its own): keep one of the two lines`)
  const settings = new Map<string, string>()
  const rest = header.batched.replace(/(\w+)=((?:"(?:[^"]|"")*"|[^\s"])+)/g, (_, k: string, v: string) => {
    if (settings.has(k)) throw new BatchedDeclarationError(`gives ${k}= twice`)
    settings.set(k, v)
    return ' '
  })
  if (rest.trim()) throw new BatchedDeclarationError(`has "${rest.trim().split(/\s+/)[0]}", which is not a setting=value`)
  for (const k of settings.keys())
    if (!['table', 'key', 'size', 'pause'].includes(k)) throw new BatchedDeclarationError(`has an unknown setting ${k}= (known: table, key, size, pause)`)
  const table = qualifiedName(settings.get('table') ?? '')
  if (!settings.has('table')) throw new BatchedDeclarationError('names no table=')
  if (!table) throw new BatchedDeclarationError(`has table=${settings.get('table')}, which is not a table name`)
  if (!settings.has('key')) throw new BatchedDeclarationError('names no key= column')
  const key = identifier(settings.get('key')!)
  if (key === undefined) throw new BatchedDeclarationError(`has key=${settings.get('key')}, which is not a column name`)
  const sizeText = settings.get('size') ?? String(DEFAULT_BATCH_SIZE)
  const size = /^\d+$/.test(sizeText) ? Number(sizeText) : NaN
  if (!(size >= 1 && size <= MAX_BATCH_SIZE)) throw new BatchedDeclarationError(`has size=${sizeText}, not a whole number of rows from 1 to ${MAX_BATCH_SIZE}`)
  let pauseMs = 0
  if (settings.has('pause')) {
    try {
      pauseMs = parseDurationMs(settings.get('pause')!, 'pause=')
    } catch {
      throw new BatchedDeclarationError(`has pause=${settings.get('pause')}, not a duration (e.g. 50ms, 1s)`)
    }
  }
  return { table, key, size, pauseMs }
}
