// src/db/lock.ts on real PostgreSQL: the migration lock waits a bounded time and names the holder's
// kind of work; a transaction commits, rolls back on error, and a dry run's never commits.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  CACHE_LOCK_CLASS,
  CacheLockedError,
  LockTimeoutError,
  MIGRATION_LOCK_KEY,
  withCacheLock,
  withMigrationTransaction,
  withSessionMigrationLock,
  withTransaction,
} from '../../src/db/lock.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let url: string
beforeAll(async () => {
  url = await freshDatabase('lock')
  await query(url, 'create table t (n int)')
})
afterAll(async () => {
  for (const name of ['lock', 'lock_elsewhere_1', 'lock_elsewhere_2']) await dropDatabase(name)
})

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, on = url): Promise<T> {
  const c = new pg.Client({ connectionString: on })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

describe('the migration lock', () => {
  test('held by another session: both helpers give up after the wait with LockTimeoutError (exit 2), having changed nothing', async () => {
    await withClient(async (holder) => {
      await holder.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      for (const helper of [withMigrationTransaction, withSessionMigrationLock]) {
        const started = Date.now()
        const e = await withClient((c) => helper(c, () => c.query('insert into t values (1)'), 1)).catch((err: unknown) => err)
        expect(e, helper.name).toBeInstanceOf(LockTimeoutError)
        expect((e as LockTimeoutError).exitCode).toBe(2)
        expect(Date.now() - started).toBeLessThan(10_000)
      }
      expect(await query(url, 'select count(*)::int as n from t')).toEqual([{ n: 0 }])
    })
  })

  test('free: the work runs, and the lock is let go afterwards', async () => {
    await withClient((c) => withMigrationTransaction(c, () => c.query('insert into t values (2)'), 1))
    await withClient((c) => withSessionMigrationLock(c, () => c.query('insert into t values (3)'), 1))
    expect(await query(url, 'select n from t order by n')).toEqual([{ n: 2 }, { n: 3 }])
    expect(
      await query(
        url,
        `select 1 from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
      ),
    ).toEqual([])
  })
})

describe('the cache lock', () => {
  test("attack: a holder of the same cache in another database was named as the one running; now the message names this database's", async () => {
    const take = `select pg_advisory_lock($1, hashtext(current_schema() || '.' || 'cache_files'))`
    const holders: pg.Client[] = []
    try {
      // The same schema and table in two other databases, each cache held there.
      for (const name of ['lock_elsewhere_1', 'lock_elsewhere_2']) {
        const c = new pg.Client({ connectionString: await freshDatabase(name), application_name: 'elsewhere' })
        await c.connect()
        holders.push(c)
        await c.query(take, [CACHE_LOCK_CLASS])
      }
      const here = new pg.Client({ connectionString: url, application_name: 'the rebuild here' })
      await here.connect()
      holders.push(here)
      await here.query(take, [CACHE_LOCK_CLASS])
      const pid = (await here.query('select pg_backend_pid() as p')).rows[0].p
      const e = await withClient((c) => withCacheLock(c, 'cache_files', async () => 'ran', 1)).catch((err: unknown) => err)
      expect(e).toBeInstanceOf(CacheLockedError)
      expect((e as Error).message).toMatch(new RegExp(`^another cache rebuild of cache_files is running \\(backend pid ${pid} \\(the rebuild here\\)`))
    } finally {
      for (const c of holders) await c.end()
    }
  })
})

describe('withTransaction', () => {
  test('rolls back when the work throws, and never commits a dry run', async () => {
    await query(url, 'truncate t')
    await withClient(async (c) => {
      await expect(
        withTransaction(c, async () => {
          await c.query('insert into t values (4)')
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(await withTransaction(c, async () => (await c.query('insert into t values (5) returning n')).rows[0].n, { commit: false })).toBe(5)
      await withTransaction(c, () => c.query('insert into t values (6)'))
    })
    expect(await query(url, 'select n from t')).toEqual([{ n: 6 }])
  })
})
