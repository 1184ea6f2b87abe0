// Lock timeouts with retries for `resolve --unapplied` and `adopt` (issue 21, item 1): like deploy and
// each rollback step, each try waits a short lock_timeout, a try that runs out is rolled back whole and
// tried again, and a spent budget changes nothing (exit 1), naming the sessions in the way.
// - resolve --unapplied deletes one history row: a reader's ACCESS SHARE never stops that, a session
//   holding the row does (an operator's open transaction that touched it by hand, in psql or pgAdmin).
// - adopt drops alembic_version in its transaction: a service that read it (its start-up check) and
//   keeps its transaction open holds ACCESS SHARE there, and every later reader queues behind the drop.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, test, vi } from 'vitest'
import { runCli, type CliRun } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { loadLegacyFixture } from '../helpers/legacy.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()
// Each test starts the CLI twice or three times on a machine that may be busy.
vi.setConfig({ testTimeout: 300_000 })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Short tries; a budget that outlasts the holder (WAIT) or not (SPENT). */
const WAIT = { ARTSTORE_LOCK_TIMEOUT: '200ms', ARTSTORE_LOCK_RETRY_FOR: '2m' }
const SPENT = { ARTSTORE_LOCK_TIMEOUT: '200ms', ARTSTORE_LOCK_RETRY_FOR: '2s' }

/** A session named `application` that runs `sql` in a transaction it keeps open until `end()`. */
async function holder(url: string, application: string, sql: string) {
  const c = new pg.Client({ connectionString: url, application_name: application })
  await c.connect()
  const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid
  await c.query('begin')
  await c.query(sql) // the query its blockers name
  let ended = false
  const end = async () => {
    if (ended) return
    ended = true
    await c.query('commit')
    await c.end()
  }
  return { pid, end }
}

/** Waits until some backend waits for `pid` (polling often: a try waits only its lock_timeout), or `done()`. */
async function untilBlockedBy(url: string, pid: number, done: () => boolean, boundMs = 180_000): Promise<void> {
  const until = Date.now() + boundMs
  while (!done() && (await query(url, 'select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid])).length === 0) {
    if (Date.now() > until) throw new Error(`no backend ever waited for pid ${pid}`)
    await sleep(10)
  }
}

/**
 * Runs a CLI command while `h` holds on: `h` lets go `holdMs` after the command first waits for it, or
 * as soon as the command has ended. A command without retries waits for `h` all that time, then goes
 * through; with a shorter budget it gives up first.
 */
async function whileHeld(url: string, h: { pid: number; end: () => Promise<void> }, run: () => Promise<CliRun>, holdMs: number): Promise<CliRun> {
  let finished = false
  const running = run().finally(() => (finished = true))
  try {
    await untilBlockedBy(url, h.pid, () => finished)
    const until = Date.now() + holdMs
    while (!finished && Date.now() < until) await sleep(50)
  } finally {
    await h.end()
  }
  return running
}

describe('resolve --unapplied', () => {
  const M = '20270101000000_notes'
  /** Admin with a later migration recorded applied whose table someone dropped by hand. */
  async function setup(name: string) {
    const url = await freshDatabase(`resolve_locks_${name}`)
    const prismaDir = copyPrismaDir(`resolve-locks-${name}`, { at: 'baseline' })
    const dir = path.join(prismaDir, 'admin', 'migrations', M)
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, 'migration.sql'), 'CREATE TABLE "notes" ("id" INTEGER NOT NULL, CONSTRAINT "notes_pkey" PRIMARY KEY ("id"));\n')
    fs.writeFileSync(path.join(dir, 'down.sql'), 'DROP TABLE "notes";\n')
    const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
    const deployed = await runCli(['deploy', '--module', 'admin'], env)
    expect(deployed.exitCode, deployed.stderr).toBe(0)
    await query(url, 'drop table public.notes')
    const rows = async () => (await query<{ n: string }>(url, 'select count(*) as n from public._prisma_migrations where migration_name = $1', [M]))[0].n
    // An operator's pgAdmin tab that touched the row by hand and was left open.
    const tab = () => holder(url, 'pgadmin-tab', `update public._prisma_migrations set logs = logs where migration_name = '${M}'`)
    return { url, env, rows, tab }
  }

  test('a session holding the history row: resolve retries, then removes it once the session ends, naming it', async () => {
    const s = await setup('wait')
    const tab = await s.tab()
    const run = await whileHeld(s.url, tab, () => runCli(['resolve', '--module', 'admin', '--unapplied', M, '--yes', '--json'], { ...s.env, ...WAIT }), 1_500)
    expect(run.exitCode, run.stderr).toBe(0)
    const r = JSON.parse(run.stdout)
    expect(r).toMatchObject({ migration: M, action: 'unapplied', status: 'resolved' })
    expect(r.lockWaits.timedOut).toBeGreaterThan(0)
    expect(r.lockWaits.blockers).toEqual([expect.objectContaining({ pid: tab.pid, application: 'pgadmin-tab' })])
    expect(await s.rows()).toBe('0')
    const text = await runCli(['status', '--module', 'admin', '--json'], s.env)
    expect(JSON.parse(text.stdout)[0].pending).toEqual([M])
  })

  test('the budget spent: exit 1 naming the session, the row still there; once it has ended, the command it names goes through', async () => {
    const s = await setup('budget')
    const tab = await s.tab()
    const run = await whileHeld(s.url, tab, () => runCli(['resolve', '--module', 'admin', '--unapplied', M, '--yes'], { ...s.env, ...SPENT }), 30_000)
    expect(run.exitCode, run.stdout).toBe(1)
    expect(run.stderr.trim()).toMatch(
      new RegExp(
        `^error: resolve --unapplied ${M} of the admin module never got its locks within 2 s \\(\\d+ tries, each waiting at most 200 ms; held by pid ${tab.pid} \\(pgadmin-tab\\), idle in transaction, transaction open \\d+ s: update public\\._prisma_migrations .*\\): nothing was changed; when those sessions have ended, run npx artstore-db resolve --module admin --unapplied ${M} --yes \\(or wait longer: --lock-retry-for 10m\\)$`,
      ),
    )
    expect(await s.rows()).toBe('1')
    const again = await runCli(['resolve', '--module', 'admin', '--unapplied', M, '--yes'], s.env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(await s.rows()).toBe('0')
  })
})

describe('adopt', () => {
  /** A legacy admin database (Alembic, gen2) in public, and a prisma copy as 0_baseline left it. */
  async function setup(name: string) {
    const url = await freshDatabase(`adopt_locks_${name}`)
    await loadLegacyFixture(url, 'gen2-d00e065', 'admin')
    const prismaDir = copyPrismaDir(`adopt-locks-${name}`, { at: 'baseline' })
    const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
    const state = async () => ({
      alembic: (await query(url, `select to_regclass('public.alembic_version') is not null as there`))[0].there,
      history: (await query(url, `select to_regclass('public._prisma_migrations') is not null as there`))[0].there,
      tables: (await query(url, `select count(*)::int as n from pg_tables where schemaname = 'public'`))[0].n,
      users: (await query(url, "select md5(string_agg(t::text, ',' order by t::text)) as h from public.users t"))[0].h,
    })
    // A service's start-up check that read alembic_version, its transaction left open.
    const service = () => holder(url, 'service-startup', 'select * from public.alembic_version')
    return { url, env, state, service }
  }

  test("a service's open transaction on alembic_version: adopt retries, then adopts once it ends; readers queued behind it never wait long; the output names it", async () => {
    const s = await setup('wait')
    const service = await s.service()
    // Another reader of alembic_version, timing each read: it queues behind adopt's DROP while a try waits.
    const c = new pg.Client({ connectionString: s.url, application_name: 'probe' })
    await c.connect()
    const waits: number[] = []
    let stop = false
    const probing = (async () => {
      while (!stop) {
        const t0 = performance.now()
        const gone = await c.query('select count(*) from public.alembic_version').then(
          () => false,
          () => true, // dropped by the adoption
        )
        waits.push(performance.now() - t0)
        if (gone) return
        await sleep(25)
      }
    })()
    let run: CliRun
    try {
      run = await whileHeld(s.url, service, () => runCli(['adopt', '--module', 'admin', '--yes'], { ...s.env, ...WAIT }), 3_000)
    } finally {
      stop = true
      await probing
      await c.end()
    }
    expect(run.exitCode, run.stderr + run.stdout).toBe(0)
    expect(run.stdout).toContain('✅ admin: adopted')
    expect(run.stdout).toMatch(/waited for locks: \d+ tries ran out of lock_timeout/)
    expect(run.stdout).toContain(`pid ${service.pid} (service-startup)`)
    // Bounded by the 200 ms lock_timeout, with a generous margin for a busy machine (without it: the service's 3 s).
    expect(Math.max(...waits)).toBeLessThan(200 + 1_500)
    expect(await s.state()).toMatchObject({ alembic: false, history: true })
  })

  test('the budget spent: exit 1 naming the session, nothing changed; once it has ended, adopt goes through', async () => {
    const s = await setup('budget')
    const before = await s.state()
    const service = await s.service()
    const run = await whileHeld(s.url, service, () => runCli(['adopt', '--module', 'admin', '--yes', '--json'], { ...s.env, ...SPENT }), 30_000)
    expect(run.exitCode, run.stderr).toBe(1)
    const [r] = JSON.parse(run.stdout)
    expect(r.status).toBe('failed')
    expect(r.locksNotGranted.blockers).toEqual([expect.objectContaining({ pid: service.pid, application: 'service-startup', state: 'idle in transaction' })])
    expect(r.locksNotGranted.next).toMatch(
      /^the adoption of the admin module never got its locks within 2 s \(\d+ tries, .*\): nothing was changed; when those sessions have ended, run npx artstore-db adopt --module admin --yes/,
    )
    expect(await s.state()).toEqual(before)
    expect(before).toMatchObject({ alembic: true, history: false })
    const again = await runCli(['adopt', '--module', 'admin', '--yes'], s.env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(await s.state()).toMatchObject({ alembic: false, history: true })
  })
})
