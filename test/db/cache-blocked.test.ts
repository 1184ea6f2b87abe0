// `cache rebuild` whose chunk stays blocked by a service session holding one of its rows longer than
// ARTSTORE_LOCK_RETRY_FOR: the run fails (exit 1) naming that session (pid, application_name, state),
// as deploy's lock retries do; the chunks committed before it stay, every other row is as it was.
import pg from 'pg'
import { expect, test } from 'vitest'
import { rebuildCache } from '../../src/cache/rebuild.ts'
import type { LockWait } from '../../src/db/lock-retry.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { snapshot, staleCache } from './cache-helpers.ts'

const database = freshDatabasesOfThisFile()
const FILES = 'storage_elem_01_files'

test('a chunk blocked past ARTSTORE_LOCK_RETRY_FOR names the blocking session; the chunks before it stay, nothing else changed, nothing pruned', async () => {
  const url = await database('cache_blocked')
  const env = { STORAGE_ELEMENT_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: copyPrismaDir('prisma-cache_blocked', { at: 'baseline' }) }
  expect((await runCli(['deploy', '--module', 'storage-element'], env)).exitCode).toBe(0)
  const count = 2500
  // Files deleted since: --prune would delete their rows, but only once every chunk is written. The held row is in the second chunk.
  const { tree, final, before, config, held } = await staleCache(url, env, 'blocked', { count, perHour: 100, seed: 151, goneEvery: 500, goneAt: 3 })

  const service = new pg.Client({ connectionString: url, application_name: 'blocking-service' })
  await service.connect()
  let run
  try {
    await service.query('begin')
    await service.query(`select 1 from ${FILES} where file_id = $1 for update`, [held])
    const pid = (await service.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid
    const t0 = Date.now()
    run = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', tree.root, '--prune'], { ...env, ARTSTORE_LOCK_RETRY_FOR: '1s' })
    expect(Date.now() - t0).toBeLessThan(60_000)
    expect(run.exitCode, run.stderr).toBe(1)
    expect(run.stderr).toContain(`held by pid ${pid} (blocking-service), idle in transaction, transaction open `)
    expect(run.stderr).toContain(`stayed locked for 1 s (ARTSTORE_LOCK_RETRY_FOR)`)
    expect(run.stderr).toMatch(/failed after writing \d+ rows/)
    // Only the start of the query's text, never its parameters: the held key is not in the output.
    expect(run.stderr).not.toContain(held)
    // The library tells each timed-out try, with whom it waited for (the CLI prints them on a terminal); the last one gave up.
    const waits: LockWait[] = []
    const failed = await rebuildCache({
      module: 'storage-element',
      root: tree.root,
      prune: true,
      env: { ...env, ARTSTORE_LOCK_RETRY_FOR: '1s' },
      onLockWait: (w) => waits.push(w),
    })
      .then(() => undefined)
      .catch((e: Error) => e)
    expect(failed?.message).toContain(`held by pid ${pid} (blocking-service)`)
    expect(waits.length).toBeGreaterThan(1)
    expect(waits.every((w) => w.what === `a chunk of ${FILES}` && w.lockTimeoutMs === 100)).toBe(true)
    expect(waits.filter((w) => w.gaveUp).map((w) => w.attempt)).toEqual([waits.at(-1)!.attempt])
    expect(waits.flatMap((w) => w.blockers)).toContainEqual(expect.objectContaining({ pid, application: 'blocking-service', state: 'idle in transaction' }))
  } finally {
    await service.query('rollback')
    await service.end()
  }

  const after = await snapshot(url, FILES, 'file_id')
  expect(after).toHaveLength(count) // nothing pruned
  const written = after.filter((r) => r.description !== 'stale').map((r) => r.file_id as string)
  // The chunks before the held row are written, each row as its file says; every other row is as it was.
  expect(written.length).toBeGreaterThan(0)
  expect(written.every((k) => k < held)).toBe(true)
  for (const r of after) expect(r, `row ${r.file_id}`).toEqual(r.description === 'stale' ? before.get(r.file_id as string) : final.get(r.file_id as string))
  expect(await query(url, 'select * from storage_elem_01_config')).toEqual(config)
}, 300_000)
