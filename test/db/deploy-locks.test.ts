// How deploy runs a migration: one transaction unless it declares otherwise (a COMMIT in a DO block
// fails it whole), failure reports with the database's error and the next command, and lock timeouts
// with retries: a long reader never stalls the sessions queued behind the deploy, a deploy that never
// gets its locks leaves the migration pending, and a TERM takes its session out of the lock queue.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { runCli, startCli, type CliRun } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const databases: string[] = []
afterAll(async () => {
  for (const d of databases) await dropDatabase(d)
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A fresh database with admin deployed and a table `public.marks` of 5 rows, and a prisma copy to write migrations into. */
async function setup(name: string) {
  const db = `deploy_locks_${name}`
  databases.push(db)
  const url = await freshDatabase(db)
  const prismaDir = copyPrismaDir(`deploy-locks-${name}`)
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  const run = await runCli(['deploy', '--module', 'admin'], env)
  expect(run.exitCode, run.stderr).toBe(0)
  await query(url, 'create table public.marks (id int primary key, done boolean not null default false)')
  await query(url, 'insert into public.marks (id) select generate_series(1, 5)')
  const write = (migration: string, sql: string, down?: string) => {
    const dir = path.join(prismaDir, 'admin', 'migrations', migration)
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, 'migration.sql'), sql)
    if (down !== undefined) fs.writeFileSync(path.join(dir, 'down.sql'), down)
  }
  const rowsOf = (migration: string) =>
    query<{ finished: boolean; failed: boolean }>(
      url,
      'select finished_at is not null as finished, logs is not null as failed from _prisma_migrations where migration_name = $1',
      [migration],
    )
  const hasNote = async () =>
    (await query(url, `select 1 from information_schema.columns where table_schema = 'public' and table_name = 'marks' and column_name = 'note'`)).length === 1
  return { url, env, write, rowsOf, hasNote }
}

/** A session holding ACCESS SHARE on public.marks (an open transaction that read it), named `long-reader`. */
async function longReader(url: string) {
  const c = new pg.Client({ connectionString: url, application_name: 'long-reader' })
  await c.connect()
  await c.query('begin')
  await c.query('select * from public.marks limit 1')
  const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid
  let ended = false
  const end = async () => {
    if (ended) return
    ended = true
    await c.query('commit')
    await c.end()
  }
  return { pid, end }
}

/** The backends waiting for a lock on public.marks, but `except`. */
const queued = async (url: string, except: number[] = []) =>
  (await query<{ pid: number }>(url, `select pid from pg_locks where relation = 'public.marks'::regclass and not granted order by pid`))
    .map((r) => r.pid)
    .filter((p) => !except.includes(p))

/** Waits until some backend waits for a lock on public.marks (polling often: a try waits only its lock_timeout). */
async function untilQueued(url: string, boundMs = 60_000): Promise<number> {
  const until = Date.now() + boundMs
  for (;;) {
    const [pid] = await queued(url)
    if (pid) return pid
    if (Date.now() > until) throw new Error('no backend ever waited for public.marks')
    await sleep(10)
  }
}

/** A probe session that runs `SELECT count(*) FROM public.marks` over and over, timing each, until stopped. */
function probe(url: string) {
  const c = new pg.Client({ connectionString: url, application_name: 'probe' })
  const waits: number[] = []
  let stop = false
  let pid = 0
  const running = (async () => {
    await c.connect()
    pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid
    while (!stop) {
      const t0 = performance.now()
      await c.query('select count(*) from public.marks')
      waits.push(performance.now() - t0)
      await sleep(25)
    }
    await c.end()
  })()
  return {
    waits,
    pid: () => pid,
    stop: async () => {
      stop = true
      await running
      return waits
    },
  }
}

describe('one transaction per migration, unless it declares otherwise', () => {
  test('a COMMIT inside a DO block, without the declaration: exit 1 (2D000), no row changed, the report names the migration, SQLSTATE and the next command', async () => {
    const s = await setup('tx')
    const m = '20270101000000_batched_marks'
    s.write(
      m,
      `DO $$\nBEGIN\n  UPDATE public.marks SET done = true WHERE id <= 2;\n  COMMIT;\n  UPDATE public.marks SET done = true WHERE id > 2;\n  PERFORM 1 / 0;\nEND $$;\n`,
    )
    const run = await runCli(['deploy', '--module', 'admin', '--json'], s.env)
    expect(run.exitCode, run.stderr).toBe(1)
    expect(await query(s.url, 'select id from public.marks where done')).toEqual([])
    const [r] = JSON.parse(run.stdout)
    expect(r).toMatchObject({ status: 'failed', failedMigration: m, failure: { migration: m, sqlState: '2D000', left: 'failed' } })
    expect(r.failure.message).toMatch(/invalid transaction termination/)
    expect(r.failure.next).toContain(`nothing of ${m} was changed`)
    expect(r.failure.next).toMatch(new RegExp(`npx artstore-db resolve --module admin --rolled-back ${m} and deploy again$`))
    const text = await runCli(['deploy', '--module', 'admin'], s.env) // refused (P3009) now: the text names the fix too
    expect(text.exitCode).toBe(1)
    expect(text.stdout).toContain(`next: settle ${m} first`)
  })

  test('with `-- artstore: no-transaction`, the batches committed before the error stay, and the report says so', async () => {
    const s = await setup('notx')
    const m = '20270101000000_batched_marks'
    s.write(
      m,
      `-- artstore: no-transaction\nDO $$\nBEGIN\n  UPDATE public.marks SET done = true WHERE id <= 2;\n  COMMIT;\n  UPDATE public.marks SET done = true WHERE id > 2;\n  PERFORM 1 / 0;\nEND $$;\n`,
    )
    const run = await runCli(['deploy', '--module', 'admin', '--json'], s.env)
    expect(run.exitCode, run.stderr).toBe(1)
    expect(await query(s.url, 'select id from public.marks where done order by id')).toEqual([{ id: 1 }, { id: 2 }])
    const [r] = JSON.parse(run.stdout)
    expect(r.failure).toMatchObject({ migration: m, sqlState: '22012', left: 'failed' })
    expect(r.failure.next).toContain('what it committed before the error stays')
  })
})

describe('lock timeouts with retries', () => {
  test('a long reader: deploy retries, then applies once it ends; the probe never waits much longer than lock_timeout; the output names the reader', async () => {
    const s = await setup('wait')
    const m = '20270101000000_marks_note'
    s.write(m, 'ALTER TABLE public.marks ADD COLUMN note text;\n')
    const reader = await longReader(s.url)
    const p = probe(s.url)
    const deploy = startCli(['deploy', '--module', 'admin'], { ...s.env, ARTSTORE_LOCK_TIMEOUT: '200ms' })
    try {
      await untilQueued(s.url)
      await sleep(3_000) // the reader holds on, while the deploy waits
    } finally {
      await reader.end()
    }
    const run = await deploy.done
    const waits = await p.stop()
    // Bounded by the 200 ms lock_timeout, with a generous margin for a busy machine (without it: the reader's 3 s).
    expect(Math.max(...waits)).toBeLessThan(200 + 1_500)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await s.hasNote()).toBe(true)
    expect(await s.rowsOf(m)).toEqual([{ finished: true, failed: false }])
    expect(run.stdout).toMatch(/waited for locks: \d+ tries ran out of lock_timeout/)
    expect(run.stdout).toContain(`pid ${reader.pid} (long-reader)`)
  })

  test('the budget spent: exit 1 naming the reader, the migration pending (not failed), the catalog unchanged; a plain deploy afterwards applies it', async () => {
    const s = await setup('budget')
    const m = '20270101000000_marks_note'
    s.write(m, 'ALTER TABLE public.marks ADD COLUMN note text;\n')
    const reader = await longReader(s.url)
    // Without retries a deploy waits for the reader: end it after a while, so that such a deploy finishes (and the test fails) rather than hangs.
    const release = setTimeout(() => void reader.end(), 20_000)
    let run: CliRun
    try {
      run = await runCli(['deploy', '--module', 'admin', '--json'], { ...s.env, ARTSTORE_LOCK_TIMEOUT: '200ms', ARTSTORE_LOCK_RETRY_FOR: '2s' })
    } finally {
      clearTimeout(release)
    }
    expect(run.exitCode, run.stderr).toBe(1)
    const [r] = JSON.parse(run.stdout)
    expect(r.failure).toMatchObject({ migration: m, sqlState: '55P03', left: 'pending', blockers: [{ pid: reader.pid, application: 'long-reader' }] })
    expect(r.failure.next).toContain(`pid ${reader.pid} (long-reader), idle in transaction`)
    expect(r.failure.next).toContain('nothing of it was applied and it stays pending')
    expect(await s.rowsOf(m)).toEqual([])
    expect(await s.hasNote()).toBe(false)
    const status = await runCli(['status', '--module', 'admin', '--json'], s.env)
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ pending: [m], failed: [] })
    await reader.end()
    const again = await runCli(['deploy', '--module', 'admin'], s.env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(await s.hasNote()).toBe(true)
    expect(await s.rowsOf(m)).toEqual([{ finished: true, failed: false }])
  })

  test('TERM while a try waits: within a second no session of the command is in the lock queue, the probe goes on, nothing applied, no failed row', async () => {
    const s = await setup('term')
    const m = '20270101000000_marks_note'
    s.write(m, 'ALTER TABLE public.marks ADD COLUMN note text;\n')
    const reader = await longReader(s.url)
    try {
      const deploy = startCli(['deploy', '--module', 'admin'], { ...s.env, ARTSTORE_LOCK_TIMEOUT: '60s', ARTSTORE_LOCK_RETRY_FOR: '0' })
      const waiting = await untilQueued(s.url) // its one try waits up to 60 s (no retries)
      // A service's SELECT queued behind the deploy's lock request.
      const c = new pg.Client({ connectionString: s.url, application_name: 'probe' })
      await c.connect()
      const probePid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid
      const select = c.query('select count(*) from public.marks')
      for (let i = 0; (await queued(s.url)).length < 2 && i < 200; i++) await sleep(10)
      expect(await queued(s.url)).toEqual([waiting, probePid].sort((a, b) => a - b))
      deploy.child.kill('SIGTERM')
      const termAt = Date.now()
      let left: number[] = [waiting]
      while (left.length && Date.now() - termAt < 1_000) {
        await sleep(20)
        left = await queued(s.url, [probePid])
      }
      expect(left).toEqual([]) // within a second of the TERM
      await select // the probe's SELECT went through (the reader's ACCESS SHARE does not stop it)
      await c.end()
      const run = await deploy.done
      expect(run.exitCode).toBe(143)
      expect(await s.hasNote()).toBe(false)
      expect(await s.rowsOf(m)).toEqual([])
    } finally {
      await reader.end()
    }
  })

  test('the options override the variables, and a duration that is not one is refused (exit 2) before anything is read', async () => {
    const s = await setup('options')
    const m = '20270101000000_marks_note'
    s.write(m, 'ALTER TABLE public.marks ADD COLUMN note text;\n')
    const bad = await runCli(['deploy', '--module', 'admin', '--lock-timeout', 'soon'], s.env)
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr.trim()).toBe('error: --lock-timeout "soon" is not a duration: give a number with ms, s, m or h (e.g. 200ms, 5s, 10m)')
    expect(await s.rowsOf(m)).toEqual([])
    const reader = await longReader(s.url)
    try {
      // The variables would wait 10 minutes; the options give up after a second.
      const run = await runCli(['deploy', '--module', 'admin', '--json', '--lock-timeout', '100ms', '--lock-retry-for', '1s'], {
        ...s.env,
        ARTSTORE_LOCK_TIMEOUT: '10m',
        ARTSTORE_LOCK_RETRY_FOR: '10m',
      })
      expect(run.exitCode, run.stderr).toBe(1)
      expect(JSON.parse(run.stdout)[0].failure).toMatchObject({ sqlState: '55P03', left: 'pending' })
    } finally {
      await reader.end()
    }
    expect(await s.hasNote()).toBe(false)
  })

  test('rollback: a step that never gets its locks within the budget changes nothing and stays applied, naming the reader (exit 1)', async () => {
    const s = await setup('rollback')
    const m = '20270101000000_marks_note'
    s.write(m, 'ALTER TABLE public.marks ADD COLUMN note text;\n', 'ALTER TABLE public.marks DROP COLUMN note;\n')
    expect((await runCli(['deploy', '--module', 'admin'], s.env)).exitCode).toBe(0)
    const reader = await longReader(s.url)
    const release = setTimeout(() => void reader.end(), 20_000) // a rollback without retries would wait for it
    let run: CliRun
    try {
      run = await runCli(['rollback', '--module', 'admin', '--steps', '1', '--yes', '--json'], {
        ...s.env,
        ARTSTORE_LOCK_TIMEOUT: '200ms',
        ARTSTORE_LOCK_RETRY_FOR: '2s',
      })
    } finally {
      clearTimeout(release)
      await reader.end()
    }
    expect(run.exitCode, run.stderr).toBe(1)
    const r = JSON.parse(run.stdout)
    expect(r.failure).toMatchObject({ migration: m, sqlState: '55P03', blockers: [{ pid: reader.pid, application: 'long-reader' }] })
    expect(r.failure.next).toContain('nothing of it was changed and it stays applied')
    expect(await s.hasNote()).toBe(true)
    expect(await s.rowsOf(m)).toEqual([{ finished: true, failed: false }])
  })
})
