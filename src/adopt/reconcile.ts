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
      const stmt = current
        .split('\n')
        .filter((l) => !/^\s*--/.test(l))
        .join('\n')
        .trim()
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

type Index = Catalog['indexes'][number]
/** What an index does, apart from its name. */
const shape = (i: Index) => `${i.table}|${i.unique}|${i.method}|${i.columns.join(',')}|${(i.opclasses ?? []).join(',')}|${i.predicate ?? ''}`
const normalDefault = (d: string | null) => (d ?? '').replace(/^now\(\)$/, 'CURRENT_TIMESTAMP')

/**
 * What Prisma's diff gets wrong or cannot see, from the two catalogs after Prisma's column and table
 * steps: column defaults, unique and check constraints, every index (renamed when an index of the same
 * shape exists under another name, so no index is rebuilt needlessly), and the extras' functions and
 * triggers (from the extras' own statements). Module tables only.
 */
export function reconcileSteps(expected: Catalog, actual: Catalog, extras: readonly Extra[], moduleTables: readonly string[]): PlanStep[] {
  const steps: PlanStep[] = []
  const own = (t: string) => moduleTables.includes(t)
  const extraStatements = extras.flatMap((e) => statements(e.sql))

  for (const e of expected.columns.filter((x) => own(x.table))) {
    const a = actual.columns.find((x) => x.table === e.table && x.name === e.name)
    if (!a || normalDefault(a.default) === normalDefault(e.default)) continue
    const sql = e.default
      ? `ALTER TABLE ${quoteIdent(e.table)} ALTER COLUMN ${quoteIdent(e.name)} SET DEFAULT ${e.default};`
      : `ALTER TABLE ${quoteIdent(e.table)} ALTER COLUMN ${quoteIdent(e.name)} DROP DEFAULT;`
    steps.push(step('Reconcile', sql, e.table, 'default'))
  }

  for (const e of expected.sequences.filter((x) => x.owner && own(x.owner))) {
    const a = actual.sequences.find((x) => x.name === e.name)
    if (a && a.type !== e.type)
      steps.push(step('Reconcile', `ALTER SEQUENCE ${quoteIdent(e.name)} AS ${e.type};`, e.owner!, `sequence type ${a.type} → ${e.type}`))
  }

  // Constraints first: dropping a unique constraint drops its index too.
  const expectedConstraint = new Map(expected.constraints.map((c) => [c.name, c]))
  const dropped = new Set<string>()
  for (const a of actual.constraints.filter((c) => own(c.table) && (c.kind === 'u' || c.kind === 'c'))) {
    const e = expectedConstraint.get(a.name)
    if (e && e.kind === a.kind && e.definition === a.definition) continue
    steps.push(
      step(
        'Reconcile',
        `ALTER TABLE ${quoteIdent(a.table)} DROP CONSTRAINT ${quoteIdent(a.name)};`,
        a.table,
        `drop ${a.kind === 'u' ? 'unique' : 'check'} constraint the schema does not have`,
      ),
    )
    if (a.kind === 'u') dropped.add(a.name)
  }

  // Indexes, by name; an unexpected index of the same shape is renamed rather than rebuilt.
  const constraintIndexes = new Set(actual.constraints.filter((c) => c.kind === 'p').map((c) => c.name))
  const present = actual.indexes.filter((i) => own(i.table) && !dropped.has(i.name) && !constraintIndexes.has(i.name))
  const wanted = expected.indexes.filter((i) => own(i.table) && !expected.constraints.some((c) => c.kind === 'p' && c.name === i.name))
  const spare = present.filter((a) => !wanted.some((e) => e.name === a.name && shape(e) === shape(a)))
  for (const e of wanted) {
    const same = present.find((a) => a.name === e.name)
    if (same && shape(same) === shape(e)) continue
    const uniqueConstraint = actual.constraints.some((c) => c.kind === 'u' && c.name === e.name && !dropped.has(c.name))
    if (same) {
      const drop = uniqueConstraint ? `ALTER TABLE ${quoteIdent(same.table)} DROP CONSTRAINT ${quoteIdent(same.name)};` : `DROP INDEX ${quoteIdent(same.name)};`
      steps.push(step('Reconcile', drop, same.table, 'index of that name does something else: drop it'))
      spare.splice(spare.indexOf(same), 1)
    }
    const twin = spare.find((a) => shape(a) === shape(e) && !actual.constraints.some((c) => c.name === a.name))
    if (twin) {
      steps.push(step('Reconcile', `ALTER INDEX ${quoteIdent(twin.name)} RENAME TO ${quoteIdent(e.name)};`, e.table, `rename index ${twin.name}`))
      spare.splice(spare.indexOf(twin), 1)
    } else steps.push(step('Reconcile', `${e.definition};`, e.table, 'new index'))
  }
  for (const a of spare) {
    const backing = actual.constraints.find((c) => c.name === a.name && c.kind === 'u')
    if (backing) continue // dropped with its constraint above, or kept as the schema's constraint
    steps.push(step('Reconcile', `DROP INDEX ${quoteIdent(a.name)};`, a.table, 'drop index the schema does not have'))
  }

  for (const e of expected.constraints.filter((c) => c.kind === 'u' || c.kind === 'c')) {
    const a = actual.constraints.find((c) => c.name === e.name)
    if (a && !dropped.has(a.name) && a.kind === e.kind && a.definition === e.definition) continue
    if (e.kind === 'u') {
      steps.push(
        step(
          'Reconcile',
          `ALTER TABLE ${quoteIdent(e.table)} ADD CONSTRAINT ${quoteIdent(e.name)} UNIQUE USING INDEX ${quoteIdent(e.name)};`,
          e.table,
          'turn the unique index into the unique constraint',
        ),
      )
    } else {
      steps.push(
        step(
          'Extra',
          `ALTER TABLE ${quoteIdent(e.table)} ADD CONSTRAINT ${quoteIdent(e.name)} ${e.definition};`,
          e.table,
          'check constraint (checked against the rows)',
        ),
      )
    }
  }

  for (const f of expected.functions) {
    const a = actual.functions.find((x) => x.name === f.name && x.args === f.args)
    if (a && a.body === f.body && a.result === f.result && a.language === f.language) continue
    const create = extraStatements.find((s) => new RegExp(`FUNCTION\\s+"?${f.name}"?\\s*\\(`, 'i').test(s))
    if (create)
      steps.push(
        step(
          'Extra',
          create.replace(/^CREATE\s+(OR\s+REPLACE\s+)?FUNCTION/i, 'CREATE OR REPLACE FUNCTION'),
          undefined,
          a ? 'function body differs: replace it' : 'new function',
        ),
      )
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
    steps.push(
      step(
        'Reconcile',
        `DROP TRIGGER ${quoteIdent(a.name)} ON ${quoteIdent(a.table)};`,
        a.table,
        'drops a trigger the schema does not have (behaviour change)',
        'dangerous',
      ),
    )
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
