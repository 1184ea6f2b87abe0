// One command's pooled connections: each step gets a clean session, and the pool is gone afterwards.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { withConnection, withConnectionScope } from '../../src/db/connections.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let base: string
let url: string
const backends = async () =>
  Number(
    (
      await query<{ n: string }>(
        base,
        `select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'artstore-scope-test'`,
      )
    )[0].n,
  )

/** The backends once those of closed connections are gone: a backend leaves pg_stat_activity a moment after its client closes. */
async function settledBackends(): Promise<number> {
  let n = await backends()
  for (let i = 0; i < 40 && n > 0; i++) {
    await new Promise((r) => setTimeout(r, 50))
    n = await backends()
  }
  return n
}

beforeAll(async () => {
  base = await freshDatabase('connections')
  const u = new URL(base)
  u.searchParams.set('application_name', 'artstore-scope-test')
  url = u.toString()
})
afterAll(() => dropDatabase('connections'))

describe('connection scope', () => {
  test('steps share one connection, and none sees what the one before left in its session', async () => {
    await withConnectionScope(async () => {
      const pids = new Set<number>()
      await withConnection(url, async (c) => {
        pids.add((await c.query('select pg_backend_pid() as p')).rows[0].p)
        await c.query('create temp table left_behind (x int)')
        await c.query(`set statement_timeout = '1234ms'`)
        await c.query('select pg_advisory_lock(4242)')
      })
      await withConnection(url, async (c) => {
        pids.add((await c.query('select pg_backend_pid() as p')).rows[0].p)
        expect((await c.query(`select to_regclass('pg_temp.left_behind') as t`)).rows[0].t).toBeNull()
        expect((await c.query('show statement_timeout')).rows[0].statement_timeout).toBe('0')
        expect((await c.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()`)).rows[0].n).toBe(0)
      })
      expect(pids.size).toBe(1)
    })
    expect(await settledBackends()).toBe(0) // the scope closed its pool
  })

  test('a connection left inside a transaction by a failing step is not handed to the next', async () => {
    await withConnectionScope(async () => {
      await expect(
        withConnection(url, async (c) => {
          await c.query('begin')
          await c.query('select 1/0')
        }),
      ).rejects.toThrow(/division by zero/)
      const inTransaction = await withConnection(url, async (c) => (await c.query(`select now() = statement_timestamp() as fresh`)).rows[0].fresh)
      expect(inTransaction).toBe(true)
    })
  })

  test('outside a scope each call has a connection of its own, closed afterwards', async () => {
    await withConnection(url, async (c) => expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]))
    expect(await settledBackends()).toBe(0)
  })
})
