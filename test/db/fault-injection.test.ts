// Fault injection: a command killed (SIGKILL of its process) in the middle of its work, with the
// server carrying on or not; afterwards nothing is half applied, nothing is left locked, no scratch
// database is left behind, and running the command again succeeds.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { DEPLOY_TURN_CLASS, MIGRATION_LOCK_KEY } from '../../src/db/lock.ts'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { historyOf } from '../helpers/expected.ts'
import { scratchTree } from './cache-helpers.ts'

const database = freshDatabasesOfThisFile()

/** The CLI as a child process that the test can kill. */
function startCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), ...args], {
    env: { ...process.env, DATABASE_URL: '', ADMIN_DATABASE_URL: '', STORAGE_ELEMENT_DATABASE_URL: '', QUERY_DATABASE_URL: '', ARTSTORE_DOTENV: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  return { child, exited }
}

/**
 * Waits (at most 60 s: a command may first replay a history on a scratch database, slow on a busy
 * machine) until a backend other than `except` waits for a lock in `url`'s database; its pid.
 */
async function waitingBackend(url: string, except: number): Promise<number> {
  for (let i = 0; i < 1200; i++) {
    const [w] = await query<{ pid: number }>(
      url,
      `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> $1`,
      [except],
    )
    if (w) return w.pid
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('no backend ever waited')
}

/**
 * Waits (at most 20 s) until `n` sessions of `url`'s database ask for the deploy turn (a deploy or a
 * rollback polls for it while another holds it), or until `stop()`; how many ask then.
 */
async function turnAskers(url: string, n: number, stop = () => false): Promise<number> {
  const asking = async () =>
    (
      await query<{ n: number }>(
        url,
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and query like '%pg_try_advisory_lock($1, 0)%' and pid <> pg_backend_pid()`,
      )
    )[0].n
  for (let i = 0; i < 400; i++) {
    const k = await asking()
    if (k >= n || stop()) return k
    await new Promise((r) => setTimeout(r, 50))
  }
  return asking()
}

async function settle(url: string, pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (!(await query(url, 'select 1 from pg_stat_activity where pid = $1', [pid])).length) return
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Holds `lock` in a session of its own, starts the command, and once the command's backend waits for
 * that lock, SIGKILLs the command, ends its orphaned backend (as the server would once it noticed),
 * and lets go of the lock: the command died inside its transaction.
 */
async function killInsideTransaction(url: string, lock: string, args: string[], env: Record<string, string>): Promise<void> {
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  await blocker.query('begin')
  await blocker.query(lock)
  const { child, exited } = startCli(args, env)
  const orphan = await waitingBackend(url, (await blocker.query('select pg_backend_pid() as p')).rows[0].p)
  child.kill('SIGKILL')
  await exited
  await query(url, 'select pg_terminate_backend($1)', [orphan])
  await blocker.query('rollback')
  await blocker.end()
  await settle(url, orphan)
}

describe.concurrent('SIGKILL of deploy while its migration waits', () => {
  for (const release of ['rollback', 'commit'] as const) {
    test(`the blocker then does ${release}: the next deploy settles the interrupted migration from the catalog, or names it; no lock is left`, async () => {
      const url = await database(`inject_deploy_${release}`)
      const blocker = new pg.Client({ connectionString: url })
      await blocker.connect()
      await blocker.query('create schema admin')
      await blocker.query('begin')
      await blocker.query(`create type admin.user_role_enum as enum ('x')`)
      const blockerPid = (await blocker.query('select pg_backend_pid() as p')).rows[0].p
      const env = { DATABASE_URL: url }
      const { child, exited } = startCli(['deploy', '--module', 'admin'], env)
      const orphan = await waitingBackend(url, blockerPid)
      child.kill('SIGKILL')
      await exited
      await blocker.query(release)
      await blocker.end()
      await settle(url, orphan) // the orphaned backend carries on without its client, then ends
      // The migration lock is free again: no session of the killed command is left.
      expect(
        await query(
          url,
          `select 1 from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
        ),
      ).toEqual([])

      const again = await runCli(['deploy', '--module', 'admin'], env)
      if (release === 'rollback') {
        // Nothing stood in the way any more: the orphan's transaction may have committed or not; either way the
        // next deploy reads which from the catalog and goes on.
        expect(again.exitCode, again.stdout + again.stderr).toBe(0)
        expect(again.stdout).toMatch(
          /0_baseline was left interrupted by an earlier deploy; the database shows it (had committed: marked applied|had not committed: marked rolled back, and applied again)|applied: 0_baseline/,
        )
        expect((await runCli(['verify', '--module', 'admin'], env)).exitCode).toBe(0)
        expect((await runCli(['status', '--module', 'admin'], env)).exitCode).toBe(0)
      } else {
        // The blocker's own type is in the way: the orphan failed. The catalog is neither before nor after: a person decides.
        expect(again.exitCode).toBe(1)
        expect(again.stdout).toMatch(/P3009|failed/)
      }
    })
  }
})

describe.concurrent('SIGKILL of adopt and rollback in their transaction', () => {
  test('adopt killed while it waits inside its transaction: the database is as before, and adopt runs again', async () => {
    const url = await database('inject_adopt')
    const { loadLegacyFixture } = await import('../helpers/legacy.ts')
    await loadLegacyFixture(url, 'gen2-d00e065', 'admin')
    const env = { ADMIN_DATABASE_URL: url }
    await killInsideTransaction(url, 'lock table users in access share mode', ['adopt', '--module', 'admin', '--yes'], env) // adopt's ALTERs wait
    expect(await query(url, `select to_regclass('public._prisma_migrations') as t, to_regclass('public.alembic_version') as a`)).toEqual([
      { t: null, a: 'alembic_version' },
    ])
    const again = await runCli(['adopt', '--module', 'admin', '--yes'], env)
    expect(again.exitCode, again.stdout + again.stderr).toBe(0)
    // Adopted at 0_baseline: the migrations after it (if any) are deployed as usual, then the checklist passes.
    expect((await runCli(['deploy', '--module', 'admin'], env)).exitCode).toBe(0)
    expect((await runCli(['verify', '--module', 'admin'], env)).exitCode).toBe(0)
  })

  test('rollback killed while it waits: the migration stays applied with its history row, and rollback runs again', async () => {
    const url = await database('inject_rollback')
    const env = { QUERY_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'query'], env)).exitCode).toBe(0)
    await killInsideTransaction(url, 'lock table file_metadata_cache in access share mode', ['rollback', '--module', 'query', '--steps', '1', '--yes'], env)
    expect((await runCli(['status', '--module', 'query'], env)).exitCode).toBe(0)
    expect((await runCli(['verify', '--module', 'query'], env)).exitCode).toBe(0)
    const again = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect((await runCli(['deploy', '--module', 'query'], env)).exitCode).toBe(0)
  })
})

describe.concurrent('SIGKILL of restore in its transaction', () => {
  test('restore killed while its last table waits: no table is half put back, no lock is left, and restore runs again', async () => {
    const url = await database('inject_restore')
    const { loadLegacyFixture } = await import('../helpers/legacy.ts')
    await loadLegacyFixture(url, 'gen2-d00e065', 'admin')
    const env = { ADMIN_DATABASE_URL: url }
    const adopted = await runCli(['adopt', '--module', 'admin', '--yes', '--json'], env)
    expect(adopted.exitCode, adopted.stderr).toBe(0)
    const backup: string = JSON.parse(adopted.stdout)[0].backup
    const manifest: { tables: { table: string; rows: number }[] } = JSON.parse(fs.readFileSync(path.join(backup, 'backup.json'), 'utf8'))
    const [first, last] = [manifest.tables.find((t) => t.rows > 0)!.table, manifest.tables.filter((t) => t.rows > 0).at(-1)!.table]
    expect(first).not.toBe(last)
    const rows = (table: string) => query(url, `select * from ${table} order by 1`)
    const original = await rows(first)
    // What the restore puts back first: its first table, emptied here (references checks off for the moment).
    await query(url, `alter table ${first} disable trigger all`)
    await query(url, `delete from ${first}`)
    await query(url, `alter table ${first} enable trigger all`)
    await killInsideTransaction(url, `lock table ${last} in exclusive mode`, ['restore', '--from', backup, '--yes'], env)
    expect(await rows(first)).toEqual([])
    expect(
      await query(
        url,
        `select 1 from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
      ),
    ).toEqual([])
    const again = await runCli(['restore', '--from', backup, '--yes'], env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(await rows(first)).toEqual(original)
  })
})

describe.concurrent('many at once', () => {
  test('10 parallel deploys of three modules on a fresh database: all succeed, each migration applied once', async () => {
    const url = await database('inject_parallel')
    // Each waits for the deploy turn while the others apply: far longer than 30 s on a busy machine.
    const runs = await Promise.all(Array.from({ length: 10 }, () => runCli(['deploy'], { DATABASE_URL: url, ARTSTORE_TURN_TIMEOUT: '10m' })))
    expect(
      runs.map((r) => r.exitCode),
      runs.map((r) => r.stdout + r.stderr).join('\n'),
    ).toEqual(Array(10).fill(0))
    for (const schema of ['admin', 'storage_element', 'query']) {
      const rows = await query<{ migration_name: string; n: number }>(
        url,
        `select migration_name, count(*)::int as n from ${schema}._prisma_migrations group by 1`,
      )
      expect(rows.every((r) => r.n === 1)).toBe(true)
    }
    expect((await runCli(['verify'], { DATABASE_URL: url })).exitCode).toBe(0)
  })

  test('attack: one of 10 parallel deploys took a migration another was finishing for an interrupted one ("already recorded as applied", exit 1); now a deploy reads the history in its turn and leaves it alone', async () => {
    const url = await database('inject_turn')
    const env = { ADMIN_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'admin'], env)).exitCode).toBe(0)
    // Another deploy at the end of its work: its turn held, its migration applied, the history row not yet finished.
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    try {
      await other.query('select pg_advisory_lock($1, 0)', [DEPLOY_TURN_CLASS])
      await other.query(`update _prisma_migrations set finished_at = null where migration_name = '0_baseline'`)
      const { child, exited } = startCli(['deploy', '--module', 'admin'], env)
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      // Wait until it asks for the turn (or has ended, which it must not have).
      await turnAskers(url, 1, () => child.exitCode !== null)
      expect(child.exitCode).toBeNull()
      // While the other deploy has the turn, this one has not touched the history.
      expect(await query(url, `select finished_at from _prisma_migrations where migration_name = '0_baseline'`)).toEqual([{ finished_at: null }])
      await other.query(`update _prisma_migrations set finished_at = now() where migration_name = '0_baseline'`)
      await other.query('select pg_advisory_unlock($1, 0)', [DEPLOY_TURN_CLASS])
      expect(await exited).toBe(0)
      expect(out).toMatch(/✅ admin: up-to-date/)
      expect(out).not.toMatch(/interrupted/)
    } finally {
      await other.end()
    }
    expect(await query(url, `select count(*)::int as n from _prisma_migrations where finished_at is not null and rolled_back_at is null`)).toEqual([
      { n: historyOf('admin').length },
    ])
  })
})

describe('rollbacks at once', () => {
  test('attack: two `rollback --steps 1` at once both took the newest migration, and the second ran its down.sql again; now each reads the history in its turn: two steps, each once', async () => {
    const url = await database('inject_rollbacks')
    const env = { QUERY_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'query'], env)).exitCode).toBe(0)
    const applied = async () =>
      (
        await query<{ name: string }>(
          url,
          `select migration_name as name from _prisma_migrations where rolled_back_at is null order by started_at, migration_name`,
        )
      ).map((r) => r.name)
    const before = await applied()
    expect(before.length).toBeGreaterThanOrEqual(3)
    // Both start while another deploy has the turn, and wait for it.
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    const runs: ReturnType<typeof startCli>[] = []
    const outs = ['', '']
    try {
      await other.query('select pg_advisory_lock($1, 0)', [DEPLOY_TURN_CLASS])
      for (const i of [0, 1]) {
        const run = startCli(['rollback', '--module', 'query', '--steps', '1', '--yes', '--json'], env)
        run.child.stdout.on('data', (d) => (outs[i] += d))
        runs.push(run)
      }
      expect(await turnAskers(url, 2)).toBe(2)
    } finally {
      await other.query('select pg_advisory_unlock($1, 0)', [DEPLOY_TURN_CLASS]).catch(() => undefined)
      await other.end()
    }
    const codes = await Promise.all(runs.map((r) => r.exited))
    expect(codes, outs.join('\n')).toEqual([0, 0])
    const rolledBack = outs.flatMap((o) => (JSON.parse(o) as { migrations: string[] }).migrations)
    expect(rolledBack.sort()).toEqual(before.slice(-2).sort())
    expect(await applied()).toEqual(before.slice(0, -2))
    expect((await runCli(['deploy', '--module', 'query'], env)).exitCode).toBe(0)
    expect((await runCli(['verify', '--module', 'query'], env)).exitCode).toBe(0)
  })
})

describe('a history that changes under rollback', () => {
  test('a migration applied (as `prisma migrate deploy` would, outside the deploy turn) while rollback waits for the migration lock: refused (exit 2), nothing reverted', async () => {
    const url = await database('inject_rollback_moved')
    const env = { QUERY_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'query'], env)).exitCode).toBe(0)
    const rows = async () => (await query<{ n: number }>(url, `select count(*)::int as n from _prisma_migrations where rolled_back_at is null`))[0].n
    const before = await rows()
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    try {
      await other.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      const { child, exited } = startCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], env)
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      await waitingBackend(url, (await other.query('select pg_backend_pid() as p')).rows[0].p)
      await other.query(
        `insert into _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) values (gen_random_uuid()::text, repeat('0', 64), now(), '29991231000000_later', 1)`,
      )
      await other.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      expect(await exited).toBe(2)
      expect(stderr.trim()).toMatch(
        new RegExp(
          `^error: cannot roll back the query module: the history changed while rollback waited \\(29991231000000_later is now the newest applied migration, not ${historyOf('query').at(-1)}\\): check npx artstore-db status, then run the rollback again$`,
        ),
      )
    } finally {
      await other.end()
    }
    expect(await rows()).toBe(before + 1)
    expect(await query(url, `select 1 from pg_indexes where indexname = 'idx_file_metadata_description_trgm'`)).toHaveLength(1)
  })
})

describe.concurrent('cache rebuild under faults', () => {
  test("SIGKILL in a rebuild's last transaction: the rows it wrote stay, the config row and the log are not written, no lock is left, and the next run closes the killed run's log row and succeeds", async () => {
    const url = await database('inject_rebuild')
    const env = { STORAGE_ELEMENT_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'storage-element'], env)).exitCode).toBe(0)
    const { root } = await scratchTree('inject-rebuild', { count: 3000, seed: 71 })
    // The run's last step (the config row) waits for the lock.
    await killInsideTransaction(
      url,
      'lock table storage_elem_01_config in access exclusive mode',
      ['cache', 'rebuild', '--module', 'storage-element', '--root', root],
      env,
    )
    // Every row is written in a chunk of its own before the last transaction: they stay, each as its file says.
    expect(await query(url, 'select count(*)::int as n from storage_elem_01_files')).toEqual([{ n: 3000 }])
    expect(await query(url, 'select count(*)::int as n from storage_elem_01_config')).toEqual([{ n: 0 }])
    expect(await query(url, `select status from storage_elem_01_wal`)).toEqual([{ status: 'pending' }])
    expect(
      await query(
        url,
        `select 1 from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
      ),
    ).toEqual([])
    const again = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', root, '--json'], env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).rows).toMatchObject({ inserted: 0, unchanged: 3000 })
    expect(await query(url, 'select total_files from storage_elem_01_config')).toEqual([{ total_files: 3000 }])
    expect((await query<{ status: string }>(url, `select status from storage_elem_01_wal order by started_at`)).map((r) => r.status)).toEqual([
      'failed',
      'committed',
    ])
  })

  test('a frozen server process mid-rebuild (SIGSTOP of its backend): ARTSTORE_QUERY_TIMEOUT ends the command (exit 1, one line); the rows written before stay, the config row is not written, and the next run succeeds', async (ctx) => {
    const url = await database('inject_frozen')
    const env = { STORAGE_ELEMENT_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'storage-element'], env)).exitCode).toBe(0)
    const { root } = await scratchTree('inject-frozen', { count: 500, seed: 75 })
    const blocker = new pg.Client({ connectionString: url })
    await blocker.connect()
    await blocker.query('begin')
    await blocker.query('lock table storage_elem_01_config in access exclusive mode')
    const { child, exited } = startCli(['cache', 'rebuild', '--module', 'storage-element', '--root', root], { ...env, ARTSTORE_QUERY_TIMEOUT: '3' })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const backend = await waitingBackend(url, (await blocker.query('select pg_backend_pid() as p')).rows[0].p)
    try {
      process.kill(backend, 'SIGSTOP')
    } catch {
      child.kill('SIGKILL')
      await blocker.end()
      ctx.skip() // the server runs as a user this test may not signal
    }
    try {
      await blocker.query('rollback') // the lock is free, but the frozen backend never answers
      const started = Date.now()
      expect(await exited).toBe(1)
      expect(Date.now() - started).toBeLessThan(30_000)
      expect(stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^error: the database did not answer a query in time \(ARTSTORE_QUERY_TIMEOUT, seconds\)/),
      ])
    } finally {
      process.kill(backend, 'SIGCONT')
      await query(url, 'select pg_terminate_backend($1)', [backend])
      await blocker.end()
      await settle(url, backend)
    }
    expect(await query(url, 'select count(*)::int as n from storage_elem_01_files')).toEqual([{ n: 500 }])
    expect(await query(url, 'select count(*)::int as n from storage_elem_01_config')).toEqual([{ n: 0 }])
    const again = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', root, '--json'], env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).rows).toMatchObject({ inserted: 0, unchanged: 500 })
  })

  test('three rebuilds of one cache at once: one at a time, all succeed, the rows written once', async () => {
    const url = await database('inject_rebuilds')
    const env = { STORAGE_ELEMENT_DATABASE_URL: url }
    expect((await runCli(['deploy', '--module', 'storage-element'], env)).exitCode).toBe(0)
    const { root } = await scratchTree('inject-rebuilds', { count: 2000, seed: 73 })
    const runs = await Promise.all([1, 2, 3].map(() => runCli(['cache', 'rebuild', '--module', 'storage-element', '--root', root, '--json'], env)))
    expect(
      runs.map((r) => r.exitCode),
      runs.map((r) => r.stderr).join('\n'),
    ).toEqual([0, 0, 0])
    expect(runs.map((r) => JSON.parse(r.stdout).rows.inserted).sort()).toEqual([0, 0, 2000])
    expect(await query(url, 'select count(*)::int as n from storage_elem_01_files')).toEqual([{ n: 2000 }])
    expect((await query<{ status: string }>(url, `select status from storage_elem_01_wal`)).map((r) => r.status)).toEqual([
      'committed',
      'committed',
      'committed',
    ])
  })
})
