import type { Catalog } from '../catalog/read.ts'

/** One step of a plan: a statement, what it touches, and whether it may run unattended. */
export interface PlanStep {
  /** Prisma's step name (AlterTable, RenameIndex…) or ours (Reconcile, Extra, History, RetireAlembic). */
  kind: string
  sql: string
  /** The table it changes, when it changes one. */
  table?: string
  safety: 'safe' | 'dangerous'
  /** Why it is safe or dangerous, in a few words. */
  reason: string
}

/** A step of Prisma's script that touches a table that is not the module's: reported, never run. */
export interface ForeignStep {
  kind: string
  sql: string
  table: string
}

const ident = (s: string) => /^"((?:[^"]|"")+)"/.exec(s)?.[1]?.replace(/""/g, '"')

/** Splits Prisma's diff script into its steps: each starts with a `-- Kind` line. */
export function splitScript(script: string): { kind: string; sql: string }[] {
  const steps: { kind: string; sql: string }[] = []
  for (const block of script.split(/\n(?=-- [A-Z]\w*\n)/)) {
    const m = /^-- ([A-Z]\w*)\n([\s\S]*)$/.exec(block.trim())
    if (m && m[2].trim()) steps.push({ kind: m[1], sql: m[2].trim() })
  }
  return steps
}

/** The table a Prisma step changes: named in the SQL, or (for index steps) found in the live catalog. */
export function stepTable(sql: string, live: Catalog): string | undefined {
  const onTable = /(?:ALTER TABLE|DROP TABLE|CREATE TABLE|\bON)\s+("(?:[^"]|"")+")/.exec(sql)
  if (onTable) return ident(onTable[1])
  const index = /(?:DROP INDEX|ALTER INDEX)\s+("(?:[^"]|"")+")/.exec(sql)
  if (index) return live.indexes.find((i) => i.name === ident(index[1]))?.table
  return undefined
}

/** The base type name and its length, from a catalog type or a Prisma SQL type. */
function typeOf(t: string): { base: string; length?: number } {
  const s = t.trim().toLowerCase()
  const len = /\((\d+)\)/.exec(s)?.[1]
  const base = s
    .replace(/\(.*\)/, '')
    .replace(/^character varying$/, 'varchar')
    .replace(/^int4$|^integer$/, 'integer')
    .replace(/^int8$/, 'bigint')
    .trim()
  return { base, ...(len ? { length: Number(len) } : {}) }
}

export interface ClauseContext {
  table: string
  live: Catalog
  /** How many NULLs a column holds (for SET NOT NULL); NaN when no rows are at hand (a migration being written). */
  nullCount(column: string): Promise<number>
}

/**
 * Classifies one clause of an ALTER TABLE. Returns the clause to run (a json↔jsonb change gets an
 * explicit USING cast) and whether it is data-preserving.
 */
export async function classifyAlterClause(clause: string, ctx: ClauseContext): Promise<{ clause: string; safe: boolean; reason: string }> {
  // Prisma pads some clauses ("ADD COLUMN     \"x\""): matched on single spaces, run as written.
  const run = clause
  clause = clause.replace(/^(ADD|DROP|ALTER) COLUMN\s+/, '$1 COLUMN ')
  const column = ident(/COLUMN\s+("(?:[^"]|"")+")/.exec(clause)?.[1] ?? '') ?? ''
  const current = ctx.live.columns.find((c) => c.table === ctx.table && c.name === column)
  if (/^ALTER COLUMN .* (SET|DROP) DEFAULT/.test(clause)) return { clause: run, safe: true, reason: 'default' }
  if (/^ALTER COLUMN .* DROP NOT NULL$/.test(clause)) return { clause: run, safe: true, reason: 'drop not null' }
  if (/^ALTER COLUMN .* SET NOT NULL$/.test(clause)) {
    const nulls = await ctx.nullCount(column)
    if (Number.isNaN(nulls))
      return { clause: run, safe: false, reason: `NOT NULL on existing column ${column}: fails if a row holds NULL there (backfill first)` }
    return nulls
      ? { clause: run, safe: false, reason: `NOT NULL on ${column}, which holds ${nulls} NULL(s)` }
      : { clause: run, safe: true, reason: 'not null, no NULLs held' }
  }
  const setType = /^ALTER COLUMN ("(?:[^"]|"")+") SET DATA TYPE (.+)$/.exec(clause)
  if (setType && current) {
    const from = typeOf(current.type)
    const to = typeOf(setType[2])
    if ((from.base === 'json' && to.base === 'jsonb') || (from.base === 'jsonb' && to.base === 'json')) {
      return { clause: `${run} USING ${setType[1]}::${to.base}`, safe: true, reason: `${from.base} → ${to.base}, explicit cast` }
    }
    if (from.base === 'integer' && to.base === 'bigint') return { clause: run, safe: true, reason: 'widening integer → bigint' }
    if (from.base === 'smallint' && (to.base === 'integer' || to.base === 'bigint'))
      return { clause: run, safe: true, reason: `widening smallint → ${to.base}` }
    if (from.base === 'varchar' && to.base === 'varchar' && (to.length === undefined || (from.length !== undefined && to.length >= from.length))) {
      return { clause: run, safe: true, reason: `widening varchar(${from.length}) → varchar(${to.length ?? ''})` }
    }
    if (from.base === 'varchar' && to.base === 'text') return { clause: run, safe: true, reason: 'widening varchar → text' }
    return { clause: run, safe: false, reason: `type change ${current.type} → ${setType[2]} may not preserve data` }
  }
  const add = /^ADD COLUMN ("(?:[^"]|"")+") (.+)$/.exec(clause)
  if (add) {
    const notNull = /NOT NULL/.test(add[2]) && !/DEFAULT/.test(add[2])
    return notNull
      ? { clause: run, safe: false, reason: `new NOT NULL column ${column} without a default` }
      : { clause: run, safe: true, reason: 'new column that existing rows can take' }
  }
  if (/^DROP COLUMN/.test(clause)) return { clause: run, safe: false, reason: `drops column ${column} and its data` }
  return { clause: run, safe: false, reason: 'not a change the classifier knows' }
}

/** Prisma step kinds that change no data and only names, indexes or constraints. */
const SAFE_KINDS: Record<string, string> = {
  CreateIndex: 'new index',
  DropIndex: 'drop index',
  RenameIndex: 'rename index',
  RenameForeignKey: 'rename constraint',
  AddForeignKey: 'new foreign key (checked against the data when it runs)',
  DropForeignKey: 'drop foreign key',
  CreateEnum: 'new enum type',
  CreateTable: 'new, empty table of the module',
  CreateExtension: 'new extension',
}

/** Classifies one Prisma step (not ALTER TABLE, which is classified clause by clause). */
export function classifyKind(kind: string, sql: string): { safe: boolean; reason: string } {
  if (SAFE_KINDS[kind]) return { safe: true, reason: SAFE_KINDS[kind] }
  if (kind === 'AlterEnum' && /^ALTER TYPE .* ADD VALUE/.test(sql) && !/;\s*\S/.test(sql.replace(/;\s*$/, ''))) return { safe: true, reason: 'new enum label' }
  if (kind === 'AlterEnum') return { safe: false, reason: 'removes or reorders enum labels' }
  if (kind === 'DropTable') return { safe: false, reason: 'drops a table of the module, with its rows' }
  return { safe: false, reason: `${kind} is not a change the classifier knows` }
}
