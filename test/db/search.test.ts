// The query module's partial search (filename ILIKE '%q%' OR description ILIKE '%q%'): after the
// trigram migrations and VACUUM ANALYZE the planner serves it from the two GIN trigram indexes; rolled
// back to the baseline, it can only scan the table. (VACUUM, as autovacuum would: rows that arrive after
// a GIN index was built wait in its pending list, which the planner rightly prices high until merged.)
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { insertSearchRows, searchShapes } from '../bench/search-data.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { historyOf } from '../helpers/expected.ts'

let url: string
const env = () => ({ QUERY_DATABASE_URL: url })
const partial = searchShapes.find((s) => s.name === 'partial page of 50')!

/** Every node type and index name of the plan, depth first. */
async function planOf(sql: string, param: unknown): Promise<string[]> {
  const [row] = await query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
    url,
    `explain (format json) ${sql.replaceAll('$1', `'${String(param).replace(/'/g, "''")}'`)}`,
  )
  const out: string[] = []
  const walk = (n: PlanNode) => {
    out.push(n['Index Name'] ? `${n['Node Type']} ${n['Index Name']}` : n['Node Type'])
    for (const c of n.Plans ?? []) walk(c)
  }
  walk(row['QUERY PLAN'][0].Plan)
  return out
}
interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  Plans?: PlanNode[]
}

beforeAll(async () => {
  url = await freshDatabase('search')
  const [r] = await deploy({ module: 'query', env: env() })
  expect(r.status).toBe('applied')
  await query(url, insertSearchRows(8000))
  await query(url, 'vacuum analyze file_metadata_cache')
})
afterAll(async () => {
  await dropDatabase('search')
})

describe('partial search', () => {
  test('after the trigram migrations and VACUUM ANALYZE: a bitmap OR of the two trigram indexes', async () => {
    const plan = await planOf(partial.sql, partial.param)
    expect(plan).toEqual(
      expect.arrayContaining(['BitmapOr', 'Bitmap Index Scan idx_file_metadata_filename_trgm', 'Bitmap Index Scan idx_file_metadata_description_trgm']),
    )
    expect(plan).not.toContain('Seq Scan')
    // The right rows: the one file whose name holds the pattern.
    expect(await query(url, partial.sql.replace('select *', 'select filename'), [partial.param])).toEqual([{ filename: 'квартальный_4242.xlsx' }])
  })

  test('rolled back to the baseline: no index can serve it, a scan of the whole table', async () => {
    const back = await rollback({ module: 'query', env: env(), to: '0_baseline', yes: true })
    // Every migration after the baseline, newest first: the trigram ones among them.
    expect(back.migrations).toEqual(historyOf('query').slice(1).reverse())
    await query(url, 'vacuum analyze file_metadata_cache')
    const plan = await planOf(partial.sql, partial.param)
    expect(plan).toContain('Seq Scan')
    expect(plan.join(' ')).not.toMatch(/trgm/)
    expect((await deploy({ module: 'query', env: env() }))[0].migrations).toEqual(back.migrations.reverse())
  })
})
