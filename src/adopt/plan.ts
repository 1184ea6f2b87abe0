import type pg from 'pg'
import type { Catalog } from '../catalog/read.ts'
import { quoteIdent } from '../db/pg-config.ts'
import { classifyAlterClause, classifyKind, splitScript, stepTable, type ForeignStep, type PlanStep } from './steps.ts'

export interface PrismaPlan {
  steps: PlanStep[]
  /** Steps of Prisma's script on tables that are not the module's: reported, never run. */
  foreign: ForeignStep[]
}

/** Splits an ALTER TABLE statement into its clauses (Prisma writes one per line, comma-separated). */
export function alterClauses(stmt: string): { table: string; clauses: string[] } | undefined {
  const m = /^ALTER TABLE ("(?:[^"]|"")+") ([\s\S]+?);?$/.exec(stmt.trim())
  if (!m) return undefined
  return { table: m[1].slice(1, -1).replace(/""/g, '"'), clauses: m[2].split(/,\n/).map((c) => c.trim()) }
}

/**
 * Turns Prisma's drift script (live database → schema) into classified steps for the module's own
 * tables. Steps on any other table (another prefix, another module, the app's leftovers, the Alembic
 * version table) are set aside as foreign.
 */
export async function planPrismaSteps(script: string, live: Catalog, schema: string, moduleTables: readonly string[], c: pg.ClientBase): Promise<PrismaPlan> {
  const steps: PlanStep[] = []
  const foreign: ForeignStep[] = []
  const nullCount = (table: string) => async (column: string) =>
    Number((await c.query(`select count(*) as n from ${quoteIdent(schema)}.${quoteIdent(table)} where ${quoteIdent(column)} is null`)).rows[0].n)
  // Prisma qualifies names with the URL's schema; the plan runs with that schema as search_path.
  for (const { kind, sql } of splitScript(script.replaceAll(`${quoteIdent(schema)}.`, ''))) {
    if (kind === 'CreateSchema') continue // the module's schema exists: we are connected to it
    // Indexes are reconciled from the catalogs instead (src/adopt/reconcile.ts): Prisma's index steps
    // cannot tell a unique constraint from a unique index, nor two unique indexes on one column.
    if (kind === 'CreateIndex' || kind === 'DropIndex' || kind === 'RenameIndex') continue
    const table = stepTable(sql, live)
    if (table && kind !== 'CreateTable' && !moduleTables.includes(table)) {
      foreign.push({ kind, sql, table })
      continue
    }
    if (kind === 'AlterTable') {
      for (const stmt of sql
        .split(/;\n/)
        .map((s) => s.trim())
        .filter(Boolean)) {
        const alter = alterClauses(stmt)
        if (!alter) {
          const sequence = /^(CREATE SEQUENCE|ALTER SEQUENCE .* OWNED BY)/.test(stmt)
          steps.push({
            kind,
            sql: `${stmt.replace(/;$/, '')};`,
            table,
            safety: sequence ? 'safe' : 'dangerous',
            reason: sequence ? 'sequence of a serial column' : 'not a change the classifier knows',
          })
          continue
        }
        for (const clause of alter.clauses) {
          const r = await classifyAlterClause(clause, { table: alter.table, live, nullCount: nullCount(alter.table) })
          steps.push({
            kind,
            sql: `ALTER TABLE ${quoteIdent(alter.table)} ${r.clause};`,
            table: alter.table,
            safety: r.safe ? 'safe' : 'dangerous',
            reason: r.reason,
          })
        }
      }
      continue
    }
    const r = classifyKind(kind, sql)
    steps.push({ kind, sql: sql.endsWith(';') ? sql : `${sql};`, ...(table ? { table } : {}), safety: r.safe ? 'safe' : 'dangerous', reason: r.reason })
  }
  return { steps, foreign }
}
