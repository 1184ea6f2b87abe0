import type { Catalog } from '../catalog/read.ts'
import { quoteIdent } from '../db/pg-config.ts'
import type { Extra } from '../baseline/extras.ts'
import type { PlanStep } from './steps.ts'

/** Splits SQL into statements, keeping `$$…$$` bodies whole. Comments-only pieces are dropped. */
export function statements(sql: string): string[] {
  const out: string[] = []
  let current = ''
  let inDollar = false
  for (const line of sql.split('\n')) {
    current += `${line}\n`
    if ((line.match(/\$\$/g) ?? []).length % 2 === 1) inDollar = !inDollar
    if (!inDollar && /;\s*$/.test(line)) {
      const stmt = current.split('\n').filter((l) => !/^\s*--/.test(l)).join('\n').trim()
      if (stmt) out.push(stmt)
      current = ''
    }
  }
  return out
}

const step = (kind: string, sql: string, table: string | undefined, reason: string, safety: PlanStep['safety'] = 'safe'): PlanStep => ({
  kind,
  sql,
  ...(table ? { table } : {}),
  safety,
  reason,
})

/**
 * What Prisma's diff cannot see, from the two catalogs after Prisma's steps: unique constraints versus
 * unique indexes of the same name, check constraints, and the extras' functions and triggers (taken
 * from the extras' own statements). Module tables only.
 */
export function reconcileSteps(expected: Catalog, actual: Catalog, extras: readonly Extra[], moduleTables: readonly string[]): PlanStep[] {
  const steps: PlanStep[] = []
  const own = (t: string) => moduleTables.includes(t)
  const extraStatements = extras.flatMap((e) => statements(e.sql))
  const expectedConstraint = new Map(expected.constraints.map((c) => [c.name, c]))
  const actualConstraint = new Map(actual.constraints.filter((c) => own(c.table)).map((c) => [c.name, c]))

  for (const [name, a] of actualConstraint) {
    const e = expectedConstraint.get(name)
    if (e && e.kind === a.kind && e.definition === a.definition) continue
    if (a.kind === 'u' || a.kind === 'c') {
      steps.push(step('Reconcile', `ALTER TABLE ${quoteIdent(a.table)} DROP CONSTRAINT ${quoteIdent(name)};`, a.table, `drop ${a.kind === 'u' ? 'unique' : 'check'} constraint the schema does not have`))
      const index = a.kind === 'u' ? expected.indexes.find((i) => i.name === name) : undefined
      if (index) steps.push(step('Reconcile', `${index.definition};`, index.table, 'recreate it as the plain unique index the schema has'))
    }
  }
  for (const [name, e] of expectedConstraint) {
    const a = actualConstraint.get(name)
    if (a && a.kind === e.kind && a.definition === e.definition) continue
    if (e.kind === 'u') {
      const hasIndex = actual.indexes.some((i) => i.name === name && i.unique) && !(a && a.kind === 'u')
      const sql = hasIndex
        ? `ALTER TABLE ${quoteIdent(e.table)} ADD CONSTRAINT ${quoteIdent(name)} UNIQUE USING INDEX ${quoteIdent(name)};`
        : `ALTER TABLE ${quoteIdent(e.table)} ADD CONSTRAINT ${quoteIdent(name)} ${e.definition};`
      steps.push(step('Reconcile', sql, e.table, hasIndex ? 'turn the unique index into the unique constraint' : 'new unique constraint'))
    }
    if (e.kind === 'c') steps.push(step('Extra', `ALTER TABLE ${quoteIdent(e.table)} ADD CONSTRAINT ${quoteIdent(name)} ${e.definition};`, e.table, 'check constraint (checked against the rows)'))
  }

  for (const f of expected.functions) {
    const a = actual.functions.find((x) => x.name === f.name && x.args === f.args)
    if (a && a.body === f.body && a.result === f.result && a.language === f.language) continue
    const create = extraStatements.find((s) => new RegExp(`FUNCTION\\s+"?${f.name}"?\\s*\\(`, 'i').test(s))
    if (create) steps.push(step('Extra', create.replace(/^CREATE\s+(OR\s+REPLACE\s+)?FUNCTION/i, 'CREATE OR REPLACE FUNCTION'), undefined, a ? 'function body differs: replace it' : 'new function'))
    else steps.push(step('Extra', `-- function ${f.name}(${f.args}) is not in the extras`, undefined, 'unknown function', 'dangerous'))
  }
  for (const t of expected.triggers) {
    const a = actual.triggers.find((x) => x.name === t.name && x.table === t.table)
    if (a && a.definition === t.definition) continue
    const create = extraStatements.find((s) => new RegExp(`CREATE\\s+TRIGGER\\s+"?${t.name}"?\\s`, 'i').test(s))
    const drop = a ? `DROP TRIGGER ${quoteIdent(t.name)} ON ${quoteIdent(t.table)};\n` : ''
    if (create) steps.push(step('Extra', `${drop}${create}`, t.table, a ? 'trigger differs: recreate it' : 'new trigger'))
  }
  for (const a of actual.triggers.filter((x) => own(x.table) && !expected.triggers.some((e) => e.name === x.name))) {
    steps.push(step('Reconcile', `DROP TRIGGER ${quoteIdent(a.name)} ON ${quoteIdent(a.table)};`, a.table, 'drops a trigger the schema does not have (behaviour change)', 'dangerous'))
  }
  return steps
}

/** Sequences of serial columns, aligned with the ids already in their tables (a created sequence starts at 1). */
export function sequenceSteps(expected: Catalog, moduleTables: readonly string[]): PlanStep[] {
  return expected.columns
    .filter((c) => moduleTables.includes(c.table) && c.default?.startsWith('nextval('))
    .map((c) => {
      const seq = /nextval\('([^']+)'/.exec(c.default!)![1].replace(/^"|"$/g, '')
      return step(
        'Reconcile',
        `SELECT setval('${seq.replace(/'/g, "''")}', max(${quoteIdent(c.name)})) FROM ${quoteIdent(c.table)} HAVING max(${quoteIdent(c.name)}) > (SELECT last_value FROM ${quoteIdent(seq)});`,
        c.table,
        'keep the sequence past the ids already used',
      )
    })
}
