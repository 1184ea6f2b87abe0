import type { Catalog } from '../catalog/read.ts'
import type pg from 'pg'
import type { LintFinding } from './lint.ts'
import { oneLine, parseStatements, type SqlNode, type SqlStatement } from './statements.ts'
import { parseColumnType, typeChangeRewrites } from './types.ts'

/**
 * The statements that rewrite or scan a whole table while holding a lock that stops the services
 * (Squawk's and strong_migrations' lock rules, Atlas's PG30x): harmless on a small table, a stall on a
 * large one. `deploy` weighs each against the table's live size (see src/deploy/rewrite-guard.ts);
 * the lint names them as warnings, which `migrate allow` records.
 */
export type RewriteKind = 'type-change' | 'set-not-null' | 'volatile-default' | 'foreign-key' | 'check' | 'validate-same-transaction'

export interface RewriteFinding {
  kind: RewriteKind
  /** The table as the migration names it (`schema.table` when it qualifies it). */
  table: string
  schema?: string
  name: string
  /** The statement with only the action found: `ALTER TABLE "t" ALTER COLUMN "a" SET DATA TYPE BIGINT`. */
  statement: string
  /** What it does to the table, and under which lock. */
  does: string
  /** The form that does not hold the lock through the whole table. */
  safe: string
  /** 1-based line of the statement in migration.sql. */
  line: number
}

/** What the guard needs to know of a table before a statement: its columns' types and NOT NULL, its CHECK constraints. */
export interface TableFacts {
  columns: Map<string, { type: string; notNull: boolean }>
  checks: Map<string, { definition: string; validated: boolean }>
}

/** Where the facts come from: the replayed catalog (the lint), or the live database (deploy). */
export interface RewriteProbe {
  /** The table's facts, or undefined when it does not exist (yet): a table made by the migration is empty. */
  table(schema: string | undefined, name: string): Promise<TableFacts | undefined>
  /** The most volatile of the functions of that name (`i`, `s`, `v`), undefined when there is none. */
  volatility(name: string): Promise<'i' | 's' | 'v' | undefined>
}

const DOES: Record<RewriteKind, string> = {
  'type-change': 'rewrites every row and rebuilds its indexes under ACCESS EXCLUSIVE (reads and writes wait)',
  'set-not-null': 'scans every row under ACCESS EXCLUSIVE (reads and writes wait)',
  'volatile-default': 'a volatile default rewrites every row under ACCESS EXCLUSIVE (reads and writes wait)',
  'foreign-key': 'validates every row under SHARE ROW EXCLUSIVE on both tables (writes wait)',
  check: 'validates every row under ACCESS EXCLUSIVE (reads and writes wait)',
  'validate-same-transaction': 'validates every row while the same transaction still holds the lock of the ADD … NOT VALID',
}

const SAFE: Record<RewriteKind, string> = {
  'type-change': 'add a column of the new type, backfill it in batches, switch the services to it, then drop the old one',
  'set-not-null':
    'ADD CONSTRAINT … CHECK (<column> IS NOT NULL) NOT VALID; in a later migration VALIDATE CONSTRAINT, then SET NOT NULL (no scan: the check proves it), then DROP CONSTRAINT (migrate new writes it, unless --no-safe-forms)',
  'volatile-default': 'ADD COLUMN without the default, then SET DEFAULT (new rows only), then backfill the existing rows in batches',
  'foreign-key': 'the same ADD CONSTRAINT … NOT VALID, and VALIDATE CONSTRAINT in a later migration (migrate new writes it, unless --no-safe-forms)',
  check: 'the same ADD CONSTRAINT … NOT VALID, and VALIDATE CONSTRAINT in a later migration (migrate new writes it, unless --no-safe-forms)',
  'validate-same-transaction': 'VALIDATE CONSTRAINT in a later migration (its own transaction: SHARE UPDATE EXCLUSIVE, reads and writes go on)',
}

/** The lint's finding for a rewrite: a warning (the size decides, at deploy), with the line `migrate allow` records. */
export const rewriteLintFinding = (f: RewriteFinding): LintFinding => ({
  source: 'artstore-db',
  rule: 'rewrite',
  level: 'warning',
  message: `${f.table}: ${f.statement}: ${f.does}`,
  line: f.line,
})

/** The unquoted name of an identifier as PostgreSQL folds it. */
const ident = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s.toLowerCase())
/** The parts of a (possibly qualified) name: `public."T"` → ['public', 'T']. */
const nameParts = (text: string) => [...text.matchAll(/"(?:[^"]|"")+"|[^\s."]+/g)].map((m) => ident(m[0]))

const child = (n: SqlNode, kind: string) => n.children.find((c) => c.kind === kind)
const has = (n: SqlNode, kind: string): boolean => n.children.some((c) => c.kind === kind || has(c, kind))
const all = (n: SqlNode, kind: string): SqlNode[] => n.children.flatMap((c) => [...(c.kind === kind ? [c] : []), ...all(c, kind)])
const isType = (n: SqlNode) => /_TYPE$/.test(n.kind)

/** A CHECK definition as pg_get_constraintdef prints it that proves `column IS NOT NULL`. */
export function provesNotNull(definition: string, column: string): boolean {
  const m = /^CHECK\s*\(+\s*("(?:[^"]|"")+"|[^\s()"]+)\s+IS\s+NOT\s+NULL\s*\)+/i.exec(definition.trim())
  return !!m && ident(m[1]) === column
}

/**
 * What the statements of a migration do to the tables they change, in order, with `state` carrying
 * what earlier statements (and earlier migrations of one deploy) did: columns added or retyped,
 * constraints added, validated or dropped. Only tables that exist before the migration count (a new
 * table is empty). A migration that runs outside a transaction ends one at each top-level COMMIT.
 */
export class RewriteState {
  private readonly overlay = new Map<string, TableFacts | null>()
  /** Constraints added NOT VALID in the transaction now running. */
  private addedNotValid = new Set<string>()

  constructor(private readonly probe: RewriteProbe) {}

  /** Starts the next transaction: a migration, or a part after COMMIT. */
  newTransaction() {
    this.addedNotValid = new Set()
  }

  private key = (schema: string | undefined, name: string) => `${schema ?? ''}\u0000${name}`

  async facts(schema: string | undefined, name: string): Promise<TableFacts | null> {
    const k = this.key(schema, name)
    if (!this.overlay.has(k)) {
      const f = await this.probe.table(schema, name)
      this.overlay.set(k, f ? { columns: new Map(f.columns), checks: new Map(f.checks) } : null)
    }
    return this.overlay.get(k)!
  }

  created(schema: string | undefined, name: string) {
    this.overlay.set(this.key(schema, name), null)
  }

  noteNotValid(schema: string | undefined, name: string, constraint: string) {
    this.addedNotValid.add(`${this.key(schema, name)}\u0000${constraint}`)
  }

  wasAddedNotValid(schema: string | undefined, name: string, constraint: string) {
    return this.addedNotValid.has(`${this.key(schema, name)}\u0000${constraint}`)
  }

  volatility(name: string) {
    return this.probe.volatility(name)
  }
}

/** Whether a DEFAULT expression is volatile: a function PostgreSQL marks volatile (or does not know), or nextval. */
async function volatileExpression(expr: SqlNode, state: RewriteState): Promise<boolean> {
  for (const call of all(expr, 'CALL_EXPR')) {
    const name = nameParts(call.children.find((c) => c.kind === 'NAME_REF' || c.kind === 'PATH_REF' || c.kind === 'FIELD_EXPR')?.text ?? '').at(-1)
    if (!name) return true
    const v = await state.volatility(name)
    if (v === undefined || v === 'v') return true
  }
  return false
}

const SERIAL = /^(small|big)?serial[248]?$/i

/** One action of an ALTER TABLE on an existing table: the rewrite it does, if any; updates the state. */
async function judgeAction(action: SqlNode, facts: TableFacts, ctx: { schema?: string; name: string; state: RewriteState }): Promise<RewriteKind | undefined> {
  const { schema, name, state } = ctx
  if (action.kind === 'ALTER_COLUMN') {
    const column = ident(child(action, 'COLUMN_NAME_REF')?.text ?? '')
    const setType = child(action, 'SET_TYPE')
    if (setType) {
      const typeNode = setType.children.find(isType)
      const current = facts.columns.get(column)
      const using = setType.children.some((c) => c.kind === 'USING_KW')
      const to = typeNode ? parseColumnType(typeNode.text) : undefined
      if (current && to) facts.columns.set(column, { ...current, type: typeNode!.text })
      if (!current || !to || using) return 'type-change'
      return typeChangeRewrites(parseColumnType(current.type), to) ? 'type-change' : undefined
    }
    if (child(action, 'SET_NOT_NULL')) {
      const current = facts.columns.get(column)
      if (current?.notNull) return undefined
      if (current) current.notNull = true
      const proven = [...facts.checks.values()].some((c) => c.validated && provesNotNull(c.definition, column))
      return proven ? undefined : 'set-not-null'
    }
    if (child(action, 'DROP_NOT_NULL')) {
      const current = facts.columns.get(column)
      if (current) current.notNull = false
    }
    return undefined
  }
  if (action.kind === 'ADD_COLUMN') {
    const column = ident(child(action, 'COLUMN_NAME')?.text ?? '')
    const typeNode = action.children.find(isType)
    facts.columns.set(column, { type: typeNode?.text ?? '', notNull: has(action, 'NOT_NULL_CONSTRAINT') })
    if (typeNode && SERIAL.test(typeNode.text.trim())) return 'volatile-default'
    if (has(action, 'GENERATED_STORED') || has(action, 'GENERATED_IDENTITY')) return 'volatile-default'
    const def = child(action, 'DEFAULT_CONSTRAINT')
    if (def && (await volatileExpression(def, state))) return 'volatile-default'
    if (child(action, 'REFERENCES_CONSTRAINT')) return 'foreign-key'
    if (child(action, 'CHECK_CONSTRAINT')) return 'check'
    return undefined
  }
  if (action.kind === 'ADD_CONSTRAINT') {
    const fk = child(action, 'FOREIGN_KEY_CONSTRAINT')
    const check = child(action, 'CHECK_CONSTRAINT')
    const constraint = fk ?? check
    if (!constraint) return undefined
    const notValid = !!child(action, 'NOT_VALID')
    const cname = ident(all(constraint, 'CONSTRAINT_NAME')[0]?.text ?? '')
    if (check && cname) {
      // As pg_get_constraintdef prints it, near enough for provesNotNull.
      const body = check.text.replace(/^[\s\S]*?\bCHECK\b/i, 'CHECK')
      facts.checks.set(cname, { definition: body, validated: !notValid })
    }
    if (notValid) {
      if (cname) state.noteNotValid(schema, name, cname)
      return undefined
    }
    return fk ? 'foreign-key' : 'check'
  }
  if (action.kind === 'VALIDATE_CONSTRAINT') {
    const cname = ident(nameParts(child(action, 'CONSTRAINT_NAME_REF')?.text ?? '').at(-1) ?? '')
    const known = facts.checks.get(cname)
    if (known) known.validated = true
    return state.wasAddedNotValid(schema, name, cname) ? 'validate-same-transaction' : undefined
  }
  if (action.kind === 'DROP_CONSTRAINT') {
    const cname = nameParts(all(action, 'NAME_REF')[0]?.text ?? '').at(-1)
    if (cname) facts.checks.delete(cname)
  }
  if (action.kind === 'DROP_COLUMN') {
    const column = nameParts(all(action, 'NAME_REF')[0]?.text ?? '').at(-1)
    if (column) facts.columns.delete(column)
  }
  return undefined
}

/** The table an ALTER or CREATE TABLE names, as written and as parts. */
function tableOf(st: SqlNode): { table: string; schema?: string; name: string } | undefined {
  const ref = child(st, 'TABLE_RELATION_NAME') ?? child(st, 'PATH')
  const text = (ref?.text ?? '').replace(/^\s*(ONLY|IF\s+EXISTS|IF\s+NOT\s+EXISTS)\s+/i, '').replace(/\s*\*\s*$/, '')
  const parts = nameParts(text)
  if (!parts.length) return undefined
  const name = parts.at(-1)!
  const schema = parts.length > 1 ? parts.at(-2) : undefined
  return { table: text.trim(), schema, name }
}

/**
 * The rewrites of one migration script, statement by statement, in the order they run (see
 * RewriteState). `state` is shared by the migrations of one deploy, in order.
 */
export async function rewriteFindings(sql: string, state: RewriteState, stmts: SqlStatement[] = parseStatements(sql)): Promise<RewriteFinding[]> {
  const out: RewriteFinding[] = []
  state.newTransaction()
  for (const st of stmts) {
    if (st.kind === 'COMMIT' || st.kind === 'BEGIN') {
      state.newTransaction()
      continue
    }
    if (st.kind === 'CREATE_TABLE') {
      const t =
        /^\s*CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[^\s("]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[^\s("]+))?)/i.exec(
          st.text,
        )
      const parts = t ? nameParts(t[1]) : []
      if (parts.length) state.created(parts.length > 1 ? parts.at(-2) : undefined, parts.at(-1)!)
      continue
    }
    if (st.kind !== 'ALTER_TABLE') continue
    const target = tableOf(st)
    if (!target) continue
    const facts = await state.facts(target.schema, target.name)
    if (!facts) continue
    for (const action of st.children) {
      if (!/^(ALTER_COLUMN|ADD_COLUMN|ADD_CONSTRAINT|VALIDATE_CONSTRAINT|DROP_CONSTRAINT|DROP_COLUMN)$/.test(action.kind)) continue
      const kind = await judgeAction(action, facts, { ...target, state })
      if (!kind) continue
      out.push({
        kind,
        ...target,
        statement: `ALTER TABLE ${target.table} ${oneLine(action.text)}`.slice(0, 160),
        does: DOES[kind],
        safe: SAFE[kind],
        line: st.line,
      })
    }
  }
  return out
}

/** Volatility PostgreSQL gives the functions a default is likeliest to call, for a lint without a database at hand. */
const KNOWN_VOLATILITY: Record<string, 'i' | 's' | 'v'> = {
  now: 's',
  transaction_timestamp: 's',
  statement_timestamp: 's',
  clock_timestamp: 'v',
  timeofday: 'v',
  random: 'v',
  gen_random_uuid: 'v',
  uuid_generate_v1: 'v',
  uuid_generate_v1mc: 'v',
  uuid_generate_v4: 'v',
  nextval: 'v',
}

/** The probe of the lint: a catalog (one schema, replayed), and the volatility from `volatility` or the known list. */
export function catalogProbe(before: Catalog, volatility?: (name: string) => Promise<'i' | 's' | 'v' | undefined>): RewriteProbe {
  return {
    table: async (_schema, name) => {
      if (!before.tables.includes(name)) return undefined
      return {
        columns: new Map(before.columns.filter((c) => c.table === name).map((c) => [c.name, { type: c.type, notNull: c.notNull }])),
        checks: new Map(
          before.constraints
            .filter((c) => c.table === name && c.kind === 'c')
            .map((c) => [c.name, { definition: c.definition, validated: !/\bNOT VALID\s*$/i.test(c.definition) }]),
        ),
      }
    },
    volatility: volatility ?? (async (name) => KNOWN_VOLATILITY[name] ?? 's'),
  }
}

/** The volatility of functions by name on a database (the most volatile overload), each looked up once. */
export function databaseVolatility(c: Pick<pg.ClientBase, 'query'>): (name: string) => Promise<'i' | 's' | 'v' | undefined> {
  const known = new Map<string, 'i' | 's' | 'v' | undefined>()
  return async (name) => {
    if (!known.has(name)) {
      const { rows } = await c.query<{ v: 'i' | 's' | 'v' | null }>('select max(provolatile::text) as v from pg_proc where proname = $1', [name])
      known.set(name, rows[0]?.v ?? undefined)
    }
    return known.get(name)
  }
}
