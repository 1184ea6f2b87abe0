import type pg from 'pg'
import { lockRetrySettings } from '../db/lock-retry.ts'
import { runScriptOn } from '../engine/script.ts'
import { enterSchema } from '../migrate/scratch.ts'
import { tableStates, type TableState } from './copy.ts'

/** One table after a step: its rows and content hash (adopt's proof), and whether the step changed it. */
export interface RehearseTable extends TableState {
  /** The step changed its rows or content, or created it. */
  changed: boolean
}

/** copy: the target's rows loaded; then, per pending migration: apply, down (its down.sql), reapply. */
export type RehearseAction = 'copy' | 'apply' | 'down' | 'reapply'

/** What the database said when a step failed. */
export interface StepFailure {
  /** The SQLSTATE, when the database raised the error. */
  sqlstate?: string
  message: string
  detail?: string
  hint?: string
}

export interface RehearseStep {
  /** The migration of the step (none for the copy). */
  migration?: string
  action: RehearseAction
  ok: boolean
  ms: number
  /** Every table of the module after the step, by name. */
  tables: RehearseTable[]
  /** Tables whose rows or content the step changed. */
  changed: string[]
  created: string[]
  dropped: string[]
  /**
   * copy: tables whose copy differs from the target's rows (none, or the copy failed); down: tables
   * that are not as they were before the migration (what the migration lost for good); reapply:
   * tables that are not as after its first apply.
   */
  differs: string[]
  failure?: StepFailure
}

/** The tables of `schema` (the history's own left out), by name. */
export async function tablesOf(c: pg.ClientBase, schema: string): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p') and c.relname <> '_prisma_migrations' order by 1`,
    [schema],
  )
  return rows.map((r) => r.name)
}

const same = (a: TableState, b: TableState) => a.rows === b.rows && a.hash === b.hash

/** The tables that are not the same in `a` and `b` (either missing counts). */
export function differingTables(a: readonly TableState[], b: readonly TableState[]): string[] {
  const byName = new Map(b.map((s) => [s.table, s]))
  const names = new Set([...a.map((s) => s.table), ...b.map((s) => s.table)])
  return [...names].filter((n) => {
    const x = a.find((s) => s.table === n)
    const y = byName.get(n)
    return !x || !y || !same(x, y)
  })
}

/** A step's record from the states before and after it. */
export function stepRecord(
  head: Pick<RehearseStep, 'migration' | 'action' | 'ms'>,
  before: readonly TableState[],
  after: readonly TableState[],
  differs: string[] = [],
  failure?: StepFailure,
): RehearseStep {
  const had = new Map(before.map((s) => [s.table, s]))
  const changed = after.filter((s) => had.has(s.table) && !same(had.get(s.table)!, s)).map((s) => s.table)
  const created = after.filter((s) => !had.has(s.table)).map((s) => s.table)
  const dropped = before.filter((s) => !after.some((a) => a.table === s.table)).map((s) => s.table)
  const tables = after.map((s) => ({ ...s, changed: changed.includes(s.table) || created.includes(s.table) }))
  return { ...head, ok: !failure, tables, changed, created, dropped, differs, ...(failure ? { failure } : {}) }
}

/** The database's error as a step failure: SQLSTATE, message, DETAIL and HINT. */
export function failureOf(e: unknown): StepFailure {
  const err = e as { code?: unknown; message?: string; detail?: string; hint?: string }
  return {
    ...(typeof err?.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? { sqlstate: err.code } : {}),
    message: String(err?.message ?? e),
    ...(err?.detail ? { detail: err.detail } : {}),
    ...(err?.hint ? { hint: err.hint } : {}),
  }
}

/**
 * Runs one script of a migration on the copy with deploy's runner (one transaction; a batched backfill
 * in its batches; a no-transaction one as one query, see src/engine/script.ts) and records what it
 * did to each table; a script that fails leaves the copy as it was (its transaction rolled back; what a
 * batched or no-transaction script committed before the error stays) and records the database's error.
 */
export async function runStep(
  c: pg.ClientBase,
  schema: string,
  head: { migration: string; action: RehearseAction },
  sql: string,
  before: readonly TableState[],
  compareWith?: readonly TableState[],
): Promise<{ step: RehearseStep; after: TableState[] }> {
  const started = performance.now()
  try {
    await enterSchema(c, schema)
    await runScriptOn(c, sql, lockRetrySettings())
  } catch (e) {
    const failure = failureOf(e)
    const after = await tableStates(c, schema, await tablesOf(c, schema)).catch(() => [...before])
    return { step: stepRecord({ ...head, ms: Math.round(performance.now() - started) }, before, after, [], failure), after }
  }
  // The script's own time: the hashes after it are the rehearsal's.
  const ms = Math.round(performance.now() - started)
  const after = await tableStates(c, schema, await tablesOf(c, schema))
  const differs = compareWith ? differingTables(compareWith, after) : []
  return { step: stepRecord({ ...head, ms }, before, after, differs), after }
}
