import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Catalog } from '../catalog/read.ts'
import { EnvironmentError } from '../errors.ts'
import { projectRoot } from '../modules.ts'
import { classifyAlterClause } from '../adopt/steps.ts'
import {
  BATCHED_PREFIX,
  BatchedDeclarationError,
  batchedDeclaration,
  DIRECTIVE_PREFIX,
  NO_TRANSACTION_LINE,
  readMigrationHeader,
  runsOutsideTransaction,
} from './header.ts'
import { oneLine, parseStatements, parts, type SqlStatement } from './statements.ts'
import { catalogProbe, rewriteFindings, rewriteLintFinding, RewriteState } from './rewrites.ts'

export { ALLOWANCE_PREFIX } from './header.ts'

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
  // A migration declared (or, one CONCURRENTLY statement alone, known) to run outside a transaction
  // block is linted as such (see transactionFindings); every other runs in one, as .squawk.toml assumes.
  const alone = runsOutsideTransaction(sql) || /\bCONCURRENTLY\b/i.test(sql) ? ['--no-assume-in-transaction'] : []
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

const error = (message: string, line?: number): LintFinding => ({
  source: 'artstore-db',
  rule: 'data-loss',
  level: 'error',
  message,
  ...(line ? { line } : {}),
})
const warning = (rule: string, message: string, line?: number): LintFinding => ({
  source: 'artstore-db',
  rule,
  level: 'warning',
  message,
  ...(line ? { line } : {}),
})

/** The last name of a (possibly qualified, possibly quoted) name: `"public"."Users"` → `Users`, `public.users` → `users`. */
export function nameOf(text: string): string {
  const t = text
    .replace(/^\s*(ONLY|IF\s+EXISTS|IF\s+NOT\s+EXISTS)\s+/i, '')
    .replace(/\s*\*\s*$/, '')
    .trim()
  const m = /("(?:[^"]|"")+"|[^\s."(]+)\s*(?:\(.*)?$/s.exec(t)
  if (!m) return t
  return m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1].toLowerCase()
}

const IDENT = String.raw`("(?:[^"]|"")+"|[A-Za-z_][\w$]*)`
const quoted = (id: string) => `"${nameOf(id).replace(/"/g, '""')}"`

/**
 * One action of an ALTER TABLE in the form the classifier reads (Prisma's spelling): keywords in
 * capitals, the column quoted, `TYPE` as `SET DATA TYPE` without its USING clause.
 */
export function canonicalClause(kind: string, text: string): string {
  const t = oneLine(text)
  if (kind === 'ALTER_COLUMN') {
    const m = new RegExp(String.raw`^ALTER\s+(?:COLUMN\s+)?${IDENT}\s+(.*)$`, 'is').exec(t)
    if (!m) return t
    let rest = m[2]
    const type = /^(?:SET\s+DATA\s+)?TYPE\s+(.*)$/is.exec(rest)
    if (type) rest = `SET DATA TYPE ${type[1].replace(/\s+(COLLATE|USING)\s[\s\S]*$/i, '')}`
    else rest = rest.replace(/^(SET|DROP)\s+(NOT\s+NULL|DEFAULT)\b/i, (x) => x.toUpperCase().replace(/\s+/g, ' '))
    return `ALTER COLUMN ${quoted(m[1])} ${rest}`
  }
  if (kind === 'DROP_COLUMN') {
    const m = new RegExp(String.raw`^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?${IDENT}`, 'i').exec(t)
    return m ? `DROP COLUMN ${quoted(m[1])}` : t
  }
  if (kind === 'ADD_COLUMN') {
    const m = new RegExp(String.raw`^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?${IDENT}\s*(.*)$`, 'is').exec(t)
    return m ? `ADD COLUMN ${quoted(m[1])} ${m[2].toUpperCase()}` : t
  }
  return t
}

/** ALTER TABLE actions that keep every row and value: constraints (checked against the rows when added), triggers' switches, renames (Squawk's rules weigh renames). */
const SAFE_ACTIONS = new Set([
  'ADD_CONSTRAINT',
  'DROP_CONSTRAINT',
  'RENAME_CONSTRAINT',
  'VALIDATE_CONSTRAINT',
  'ENABLE_TRIGGER',
  'DISABLE_TRIGGER',
  'RENAME_COLUMN',
  'TABLE_RENAME_TO',
  'OWNER_TO',
])

/** Statements that change no rows and drop nothing with data (what is dropped is named by its own rule). */
const SAFE_STATEMENTS = new Set([
  'CREATE_TABLE',
  'CREATE_INDEX',
  'CREATE_TYPE',
  'CREATE_EXTENSION',
  'CREATE_FUNCTION',
  'CREATE_PROCEDURE',
  'CREATE_TRIGGER',
  'CREATE_SEQUENCE',
  'CREATE_VIEW',
  'CREATE_SCHEMA',
  'COMMENT_ON',
  'ALTER_INDEX',
  'ALTER_SEQUENCE',
  'DROP_INDEX',
  'DROP_VIEW',
  'DROP_SEQUENCE',
  'DROP_EXTENSION',
  'DROP_TYPE',
  'UPDATE',
  'INSERT',
  'SELECT',
  'SET',
  'DO',
  'CALL',
  'GRANT',
  'REVOKE',
  'ANALYZE',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT_CREATE',
  'RELEASE_SAVEPOINT',
  'PREPARE_TRANSACTION',
])

const labelsOf = (text: string) => [...(/AS\s+ENUM\s*\(([\s\S]*)\)/i.exec(text)?.[1] ?? '').matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1].replace(/''/g, "'"))

/**
 * The project's data-loss rules on a migration script, statement by statement (parsed, so hand-written
 * SQL is read like Prisma's, whatever `-- Kind` comment stands above it): a dropped table or column,
 * TRUNCATE, DELETE, a narrowing type change, NOT NULL over existing rows, a new NOT NULL column without
 * a default, removed enum labels, a DROP … CASCADE; a table that loses a column and gains one is
 * flagged as a likely rename, which Prisma can only see as drop + add. Warnings: dropped functions and
 * triggers (behaviour), reordered enum labels, statements the lint cannot read or does not know.
 * `before` is the catalog the migration starts from.
 */
export async function dataLossFindings(sql: string, before: Catalog): Promise<LintFinding[]> {
  const findings: LintFinding[] = []
  const dropped = new Map<string, string[]>()
  const added = new Map<string, string[]>()
  const push = (map: Map<string, string[]>, table: string, column: string) => map.set(table, [...(map.get(table) ?? []), column])
  const stmts = parseStatements(sql)
  // Enum types (re)defined by the script: a new CREATE TYPE under the old name, or under another
  // name and then renamed to the old one (Prisma's recreation block), compared with the labels before.
  const created = new Map<string, string[]>()
  for (const st of stmts) {
    if (st.kind === 'CREATE_TYPE' && /\bAS\s+ENUM\b/i.test(st.text)) created.set(nameOf(/TYPE\s+(\S+)/i.exec(st.text)?.[1] ?? ''), labelsOf(st.text))
    const rename = new RegExp(String.raw`^ALTER\s+TYPE\s+(\S+)\s+RENAME\s+TO\s+${IDENT}`, 'i').exec(oneLine(st.text))
    if (st.kind === 'ALTER_TYPE' && rename && created.has(nameOf(rename[1]))) created.set(nameOf(rename[2]), created.get(nameOf(rename[1]))!)
  }
  for (const e of before.enums) {
    const labels = created.get(e.name)
    if (!labels) continue
    const removed = e.labels.filter((l) => !labels.includes(l))
    if (removed.length)
      findings.push(
        error(
          `enum ${e.name}: removes label(s) ${removed.map((l) => `'${l}'`).join(', ')}: a row holding one fails the migration, and clients that use it break`,
        ),
      )
    else if (e.labels.join('\u0000') !== labels.filter((l) => e.labels.includes(l)).join('\u0000'))
      findings.push(warning('enum-order', `enum ${e.name}: reorders its labels (every column of the type is rewritten, under an exclusive lock)`))
  }
  for (const st of stmts) {
    const line = st.line
    if (/^DROP_/.test(st.kind) && /\bCASCADE\s*;?\s*$/i.test(st.text)) {
      findings.push(error(`${oneLine(st.text).slice(0, 60)}: CASCADE also drops what depends on it (columns, views, constraints) without naming them`, line))
      continue
    }
    switch (st.kind) {
      case 'ALTER_TABLE': {
        const ps = parts(st)
        const table = nameOf(ps.find((p) => p.kind === 'TABLE_RELATION_NAME')?.text ?? '')
        for (const action of ps.filter((p) => p.kind !== 'TABLE_RELATION_NAME' && p.kind !== 'IF_EXISTS')) {
          if (SAFE_ACTIONS.has(action.kind)) continue
          if (action.kind !== 'ADD_COLUMN' && action.kind !== 'DROP_COLUMN' && action.kind !== 'ALTER_COLUMN') {
            findings.push(error(`${table}: ${oneLine(action.text)}: not a change the lint knows to keep the data`, line))
            continue
          }
          const clause = canonicalClause(action.kind, action.text)
          const column = nameOf(/COLUMN\s+("(?:[^"]|"")+")/.exec(clause)?.[1] ?? '')
          if (action.kind === 'ADD_COLUMN') push(added, table, column)
          if (action.kind === 'DROP_COLUMN') push(dropped, table, column)
          const setType = /^ALTER COLUMN "(?:[^"]|"")+" SET DATA TYPE (.+)$/.exec(clause)
          const current = before.columns.find((c) => c.table === table && c.name === column)
          if (
            setType &&
            current &&
            created.has(nameOf(setType[1].replace(/\[\]$/, ''))) &&
            before.enums.some((e) => e.name === current.type.replace(/\[\]$/, ''))
          ) {
            continue // an enum recreated: judged by its labels, above
          }
          const r = await classifyAlterClause(clause, { table, live: before, nullCount: async () => Number.NaN })
          if (!r.safe) findings.push(error(`${table}: ${r.reason}`, line))
        }
        break
      }
      case 'DROP_TABLE':
        for (const t of oneLine(st.text)
          .replace(/^DROP\s+TABLE\s+(IF\s+EXISTS\s+)?/i, '')
          .replace(/\s+(RESTRICT)$/i, '')
          .split(/\s*,\s*/))
          findings.push(error(`${nameOf(t)}: drops the table, with its rows`, line))
        break
      case 'TRUNCATE':
        findings.push(error(`${oneLine(st.text).slice(0, 60)}: deletes every row`, line))
        break
      case 'DELETE':
        findings.push(error(`${oneLine(st.text).slice(0, 60)}: deletes rows`, line))
        break
      case 'DROP_SCHEMA':
      case 'DROP_DATABASE':
        findings.push(error(`${oneLine(st.text).slice(0, 60)}: drops everything in it`, line))
        break
      case 'DROP_FUNCTION':
      case 'DROP_TRIGGER':
        findings.push(
          warning(
            'behaviour-change',
            `drops ${st.kind === 'DROP_TRIGGER' ? 'trigger' : 'function'} ${nameOf(/^DROP\s+\w+\s+(?:IF\s+EXISTS\s+)?([^\s(]+)/i.exec(oneLine(st.text))?.[1] ?? '')}`,
            line,
          ),
        )
        break
      case 'ALTER_TYPE':
        if (/\bRENAME\s+VALUE\b/i.test(st.text))
          findings.push(warning('behaviour-change', `${oneLine(st.text).slice(0, 80)}: clients that use the old label break`, line))
        else if (!/\b(ADD\s+VALUE|RENAME\s+TO|OWNER\s+TO)\b/i.test(st.text))
          findings.push(error(`${oneLine(st.text).slice(0, 60)}: not a change the lint knows to keep the data`, line))
        break
      case 'ERROR':
        findings.push(
          warning('unreadable', `${oneLine(st.text).slice(0, 60)}: the lint cannot read this statement (PostgreSQL will say whether it runs)`, line),
        )
        break
      default:
        if (!SAFE_STATEMENTS.has(st.kind))
          findings.push(warning('unclassified', `${oneLine(st.text).slice(0, 60)}: not a statement the lint classifies: review what it does to the rows`, line))
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

const mustRunAlone = (st: SqlStatement) =>
  /\bCONCURRENTLY\b/i.test(oneLine(st.text).replace(/'(?:[^']|'')*'/g, "''")) && /^(CREATE_INDEX|DROP_INDEX|REINDEX|ALTER_TABLE)$/.test(st.kind)
const TRANSACTION_CONTROL = new Set(['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT_CREATE', 'RELEASE_SAVEPOINT', 'PREPARE_TRANSACTION'])
/** A DO block that ends the transaction it runs in. */
const commitsInside = (st: SqlStatement) =>
  st.kind === 'DO' &&
  /\b(COMMIT|ROLLBACK)\b/i.test(
    st.text
      .replace(/--[^\n]*/g, '')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/'(?:[^']|'')*'/g, "''"),
  )

/**
 * The transaction rules. A migration runs in one transaction with its history row unless its header
 * declares `-- artstore: no-transaction` (see header.ts). Without the declaration, transaction control
 * (BEGIN, COMMIT, ROLLBACK, SAVEPOINT; a COMMIT or ROLLBACK inside a DO block) would end that
 * transaction part-way, and CONCURRENTLY cannot run in one: both are refused. With it or without,
 * a CONCURRENTLY statement must be the only statement of its migration: deploy runs a migration.sql
 * as one query, and PostgreSQL runs several statements of one query in one transaction block.
 */
export function transactionFindings(sql: string, stmts: SqlStatement[] = parseStatements(sql)): LintFinding[] {
  const findings: LintFinding[] = []
  const rule = (name: string, message: string, line?: number): LintFinding => ({
    source: 'artstore-db',
    rule: name,
    level: 'error',
    message,
    ...(line ? { line } : {}),
  })
  const declared = readMigrationHeader(sql).noTransaction
  if (!declared) {
    for (const st of stmts) {
      if (TRANSACTION_CONTROL.has(st.kind))
        findings.push(
          rule(
            'transaction-control',
            `${oneLine(st.text)}: a migration runs in one transaction with its history row, which this would end part-way: remove it, or declare the migration with the header line "${NO_TRANSACTION_LINE}"`,
            st.line,
          ),
        )
      else if (commitsInside(st))
        findings.push(
          rule(
            'transaction-control',
            `a DO block with COMMIT or ROLLBACK ends the migration's transaction part-way: declare the migration with the header line "${NO_TRANSACTION_LINE}" (then what it committed stays when it fails)`,
            st.line,
          ),
        )
      else if (mustRunAlone(st) && stmts.length > 1)
        findings.push(
          rule(
            'no-transaction-undeclared',
            `${oneLine(st.text).slice(0, 60)}: CONCURRENTLY cannot run in a transaction: declare the migration with the header line "${NO_TRANSACTION_LINE}" (npx artstore-db migrate new --concurrently writes it)`,
            st.line,
          ),
        )
    }
  }
  if (stmts.length > 1 && stmts.some(mustRunAlone)) {
    findings.push(
      rule(
        'concurrently-alone',
        'CONCURRENTLY must be the only statement of its migration (several run in one transaction block, which it refuses): npx artstore-db migrate new --concurrently writes each such index in a migration of its own',
      ),
    )
  }
  return findings
}

/**
 * A single-statement CONCURRENTLY migration without the declaration: it runs outside a transaction
 * (a query of one statement has no transaction block), so it works, but it should say so.
 */
function undeclaredAloneFindings(sql: string, stmts: SqlStatement[]): LintFinding[] {
  if (readMigrationHeader(sql).noTransaction || stmts.length !== 1 || !mustRunAlone(stmts[0])) return []
  return [
    warning(
      'no-transaction-undeclared',
      `CONCURRENTLY runs outside a transaction: a new migration declares it with the header line "${NO_TRANSACTION_LINE}" (npx artstore-db migrate new --concurrently writes it)`,
      stmts[0].line,
    ),
  ]
}

/** A statement's text without its comments and string literals (what is left is SQL the server parses). */
const codeOf = (text: string) =>
  text
    .replace(/--[^\n]*/g, '')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g, "''")

/**
 * The header's rules: every `-- artstore:` line is one the tools know, and a batched declaration is
 * well-formed, with one statement under it (an UPDATE or DELETE of the declared table) that bounds the
 * key with `$1` and `$2` and takes no other parameter. Each finding is one line naming the fix.
 */
export function headerFindings(sql: string, stmts: SqlStatement[] = parseStatements(sql)): LintFinding[] {
  const rule = (message: string, line?: number): LintFinding => ({ source: 'artstore-db', rule: 'header', level: 'error', message, ...(line ? { line } : {}) })
  const findings: LintFinding[] = []
  for (const d of readMigrationHeader(sql).directives) {
    if (d !== NO_TRANSACTION_LINE && d !== BATCHED_PREFIX && !d.startsWith(`${BATCHED_PREFIX} `))
      findings.push(
        rule(
          `"${d}" is not a header line the tools know: write "${NO_TRANSACTION_LINE}" or "${BATCHED_PREFIX} table=<table> key=<column> size=<rows>", or make it a plain comment (without "${DIRECTIVE_PREFIX}")`,
        ),
      )
  }
  let declared
  try {
    declared = batchedDeclaration(sql)
  } catch (e) {
    if (!(e instanceof BatchedDeclarationError)) throw e
    return [...findings, rule(e.message)]
  }
  if (!declared) return findings
  const fix = `a batched migration holds one UPDATE (or DELETE) of ${declared.table.join('.')} whose WHERE bounds ${declared.key} with $1 and $2 (e.g. "${declared.key}" BETWEEN $1 AND $2)`
  if (stmts.length !== 1) return [...findings, rule(`it has ${stmts.length} statements: ${fix}; put the others in a migration of their own`)]
  const [st] = stmts
  if (st.kind !== 'UPDATE' && st.kind !== 'DELETE') return [...findings, rule(`${oneLine(st.text).slice(0, 60)}: ${fix}`, st.line)]
  const target = new RegExp(String.raw`^(?:UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?((?:${IDENT}\s*\.\s*)?${IDENT})`, 'i').exec(oneLine(codeOf(st.text)))
  if (!target || nameOf(target[1]) !== declared.table.at(-1))
    findings.push(
      rule(
        `${oneLine(st.text).slice(0, 60)}: changes ${target ? nameOf(target[1]) : 'another table'}, not the header's table=${declared.table.join('.')}: ${fix}`,
        st.line,
      ),
    )
  const params = new Set([...codeOf(st.text).matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))
  if (!params.has(1) || !params.has(2)) findings.push(rule(`the statement does not use both $1 and $2 (the batch's first and last key): ${fix}`, st.line))
  const others = [...params].filter((n) => n > 2)
  if (others.length) findings.push(rule(`the statement uses $${others[0]}: only $1 and $2 (the batch's first and last key) are given: ${fix}`, st.line))
  return findings
}

/**
 * Both linters on one migration script, and its rewrites of tables that exist (warnings: deploy weighs
 * them against the live size); errors first. `volatility` looks up functions on the database the
 * history was replayed in (without it, a list of the usual ones); `rewrites` carries what earlier
 * migrations of one sequence did to the tables (migrate new's parts), else it starts from `before`.
 */
export async function lintMigration(
  sql: string,
  before: Catalog,
  o: { volatility?: (name: string) => Promise<'i' | 's' | 'v' | undefined>; rewrites?: RewriteState } = {},
): Promise<LintFinding[]> {
  const stmts = parseStatements(sql)
  const state = o.rewrites ?? new RewriteState(catalogProbe(before, o.volatility))
  const rewrites = (await rewriteFindings(sql, state, stmts)).map(rewriteLintFinding)
  const findings = [
    ...headerFindings(sql, stmts),
    ...(await dataLossFindings(sql, before)),
    ...transactionFindings(sql, stmts),
    ...undeclaredAloneFindings(sql, stmts),
    ...rewrites,
    ...squawk(sql),
  ]
  return [...findings.filter((f) => f.level === 'error'), ...findings.filter((f) => f.level === 'warning')]
}

/** The rules no allowance can waive: a migration either runs in one transaction or declares how it runs, in a header the tools read. */
export const TRANSACTION_RULES = ['transaction-control', 'no-transaction-undeclared', 'concurrently-alone', 'header'] as const

/** An error that `migrate allow` (or --allow-dangerous) can record as allowed: every error but the transaction rules'. */
export const isAllowable = (f: LintFinding) => f.level === 'error' && !(TRANSACTION_RULES as readonly string[]).includes(f.rule)

/** A finding as its allowance records it: `<rule>: <first line of its message>`. */
export const allowanceLine = (f: LintFinding) => `${f.source === 'squawk' ? `squawk ${f.rule}` : f.rule}: ${f.message.split('\n')[0]}`

/** The reason recorded in a migration.sql's allowance header, if it has one. */
export function recordedAllowance(sql: string): string | undefined {
  return readMigrationHeader(sql).allowance?.reason
}

/** A rewrite of a table that exists: allowed only where the table is large (deploy decides), recorded by `migrate allow`. */
export const isRewrite = (f: LintFinding) => f.source === 'artstore-db' && f.rule === 'rewrite'

/**
 * How the dangerous findings of a migration differ from those its allowance records (as multisets of
 * allowance lines): `missing` are found and not allowed, `stale` are allowed and no longer found.
 * `optional` findings (rewrites) may be recorded or not, but one recorded must still be found.
 */
export function allowanceDifference(
  sql: string,
  dangerous: readonly LintFinding[],
  optional: readonly LintFinding[] = [],
): { missing: string[]; stale: string[] } {
  const recorded = [...(readMigrationHeader(sql).allowance?.findings ?? [])]
  const missing: string[] = []
  for (const line of dangerous.map(allowanceLine)) {
    const at = recorded.indexOf(line)
    if (at >= 0) recorded.splice(at, 1)
    else missing.push(line)
  }
  for (const line of optional.map(allowanceLine)) {
    const at = recorded.indexOf(line)
    if (at >= 0) recorded.splice(at, 1)
  }
  return { missing, stale: recorded }
}
