// Wrong results and silent wrong targets found by an adversarial run, each test named after its
// attack: adopt over a failed or doubled history, deploy over a changed or missing history, a busy
// embedded port, a misspelt variable, an empty prefix.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query, urlFor } from '../helpers/db.ts'
import { loadLegacyFixture } from '../helpers/legacy.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { scratchRoot } from '../helpers/workdir.ts'

let url: string
let prismaDir: string
const env = () => ({ ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir })
const historyRows = () =>
  query<{ migration_name: string; finished: boolean }>(
    url,
    'select migration_name, finished_at is not null as finished from _prisma_migrations order by started_at',
  )

beforeAll(async () => {
  url = await freshDatabase('faults')
  prismaDir = copyPrismaDir('faults', { at: 'baseline' })
  const run = await runCli(['deploy', '--module', 'admin'], env())
  expect(run.exitCode, run.stderr).toBe(0)
})
afterAll(async () => {
  await dropDatabase('faults')
})

describe('adopt refuses a database whose Prisma history is not clean', () => {
  test('attack: a killed deploy left a failed 0_baseline row over an applied schema; adopt refuses (exit 2), adds no row', async () => {
    await query(url, `update _prisma_migrations set finished_at = null, logs = 'the deploy was killed'`)
    try {
      const run = await runCli(['adopt', '--module', 'admin', '--yes'], env())
      expect(run.exitCode).toBe(2)
      expect(run.stderr.trim()).toBe(
        'error: admin: public._prisma_migrations holds a failed migration (0_baseline), so the database is Prisma\'s already: settle it (npx artstore-db resolve --module admin --applied|--rolled-back <migration>, see README "Recovering from a failed migration"), then npx artstore-db verify',
      )
      expect(await historyRows()).toEqual([{ migration_name: '0_baseline', finished: false }])
    } finally {
      await query(url, `update _prisma_migrations set finished_at = started_at, logs = null`)
    }
  })

  test('attack: a second 0_baseline row; adopt refuses (exit 2), adds none', async () => {
    await query(
      url,
      `insert into _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
                      select gen_random_uuid()::text, checksum, migration_name, now(), now(), 1 from _prisma_migrations`,
    )
    try {
      const run = await runCli(['adopt', '--module', 'admin', '--yes'], env())
      expect(run.exitCode).toBe(2)
      expect(run.stderr).toContain('holds a migration recorded twice (0_baseline)')
      expect(await historyRows()).toHaveLength(2)
    } finally {
      await query(url, `delete from _prisma_migrations where started_at = (select max(started_at) from _prisma_migrations)`)
    }
  })
})

describe('deploy does not call a changed or missing history up to date', () => {
  const baselineFile = () => path.join(prismaDir, 'admin', 'migrations', '0_baseline', 'migration.sql')

  test('attack: an applied migration.sql edited afterwards; deploy fails (exit 1) naming it, as status does', async () => {
    const text = fs.readFileSync(baselineFile(), 'utf8')
    fs.writeFileSync(baselineFile(), `${text}-- edited after it was applied\n`)
    try {
      const run = await runCli(['deploy', '--module', 'admin'], env())
      expect(run.exitCode).toBe(1)
      expect(run.stdout).toMatch(/❌ admin: failed/)
      expect(run.stdout).toContain('0_baseline: migration.sql changed since it was applied here: restore it as deployed')
      expect((await runCli(['status', '--module', 'admin'], env())).exitCode).toBe(1)
    } finally {
      fs.writeFileSync(baselineFile(), text)
    }
    expect((await runCli(['deploy', '--module', 'admin'], env())).exitCode).toBe(0)
  })

  test('attack: the applied history archived away; deploy fails (exit 1) naming what is missing', async () => {
    const dir = path.join(prismaDir, 'admin', 'migrations', '0_baseline')
    const away = path.join(prismaDir, 'admin', 'away')
    fs.renameSync(dir, away)
    try {
      const run = await runCli(['deploy', '--module', 'admin'], env())
      expect(run.exitCode).toBe(1)
      expect(run.stdout).toMatch(/0_baseline: applied here but not in .*admin\/migrations: deploy from the migrations this database was deployed with/)
    } finally {
      fs.renameSync(away, dir)
    }
  })
})

describe('silent wrong targets and small refusals', () => {
  test('attack: a busy embedded port; every command says so (exit 2, one line) instead of ending silently', async () => {
    const listener = net.createServer((s) => s.destroy())
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()))
    const port = (listener.address() as net.AddressInfo).port
    try {
      for (const args of [['status'], ['deploy'], ['verify', '--json']]) {
        const run = await runCli(args, { ARTSTORE_EMBEDDED_PORT: String(port), ARTSTORE_EMBEDDED_DIR: path.join(scratchRoot, 'faults-embedded') })
        expect(run.exitCode, args.join(' ')).toBe(2)
        expect(run.stderr.trim()).toBe(
          `error: the embedded PostgreSQL could not start (port ${port} on 127.0.0.1 is taken by another program, not this project's PostgreSQL; stop it, or set ARTSTORE_EMBEDDED_PORT to a free port): set DATABASE_URL to use a server of your own`,
        )
      }
    } finally {
      listener.close()
    }
  })

  test('attack: a misspelt database variable (DATABSE_URL, ADMIN_DB_URL) is named in a warning', async () => {
    const run = await runCli(['status', '--module', 'admin'], { ...env(), DATABSE_URL: url, QUERY_DB_URL: url })
    expect(run.stderr.split('\n').filter((l) => l.startsWith('warning:'))).toEqual([
      'warning: DATABSE_URL is set but artstore-db does not read it: did you mean DATABASE_URL? (without DATABASE_URL, its modules use the other variables or the embedded database)',
      'warning: QUERY_DB_URL is set but artstore-db does not read it: did you mean QUERY_DATABASE_URL? (without QUERY_DATABASE_URL, its modules use the other variables or the embedded database)',
    ])
  })

  test('an empty --prefix is refused, not taken for the default; studio --port abc is bad input (exit 2)', async () => {
    const empty = await runCli(['status', '--module', 'storage-element', '--prefix', ''], env())
    expect(empty.exitCode).toBe(2)
    expect(empty.stderr.trim()).toBe(
      'error: storage-element prefix "" does not match ^[a-z][a-z0-9_]{0,40}$: use lower-case letters, digits and _ (e.g. --prefix storage_elem_02)',
    )
    const port = await runCli(['studio', '--module', 'admin', '--port', 'abc'], env())
    expect(port.exitCode).toBe(2)
    expect(port.stderr.trim().split('\n')).toHaveLength(1)
  })
})

describe('a lost connection is one line', () => {
  test('attack: the backend of a waiting adopt is terminated; one line, exit 1, nothing changed', async () => {
    const legacy = await freshDatabase('faults_lost')
    try {
      await loadLegacyFixture(legacy, 'gen2-d00e065', 'admin')
      const holder = new pg.Client({ connectionString: legacy })
      await holder.connect()
      await holder.query('select pg_advisory_lock(72707369)') // a deploy in progress: adopt waits for it
      const pending = runCli(['adopt', '--module', 'admin', '--yes'], { ADMIN_DATABASE_URL: legacy })
      let killed = false
      for (let i = 0; i < 100 && !killed; i++) {
        await new Promise((r) => setTimeout(r, 100))
        const [w] = await query<{ pid: number }>(
          legacy,
          `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> $1`,
          [(await holder.query('select pg_backend_pid() as p')).rows[0].p],
        )
        if (w) killed = (await query(legacy, 'select pg_terminate_backend($1)', [w.pid])).length === 1
      }
      expect(killed).toBe(true)
      const run = await pending
      await holder.end()
      expect(run.exitCode).toBe(1)
      expect(run.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^error: the connection to the database was lost \(.+\): what the command had not committed was rolled back by the server; run it again once the server answers$/,
        ),
      ])
      expect(await query(legacy, `select to_regclass('public._prisma_migrations') as t`)).toEqual([{ t: null }])
    } finally {
      await dropDatabase('faults_lost')
    }
  })
})

describe('hangs are bounded', () => {
  test('attack: a server that accepts connections and never answers; the command ends within seconds (exit 2, one line)', async () => {
    const silent = net.createServer(() => undefined) // accepts, never speaks
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
    const port = (silent.address() as net.AddressInfo).port
    try {
      const started = Date.now()
      const run = await runCli(['status'], { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/frozen` })
      expect(run.exitCode).toBe(2)
      expect(run.stderr.trim()).toBe(`error: cannot reach the database server at 127.0.0.1:${port}: start it, or fix the host and port in DATABASE_URL`)
      expect(Date.now() - started).toBeLessThan(20_000)
    } finally {
      silent.close()
    }
  })

  test('attack: a query that never gets an answer (here: a lock held for ever); ARTSTORE_QUERY_TIMEOUT ends it (exit 1, one line)', async () => {
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    try {
      await holder.query('begin')
      await holder.query('lock table _prisma_migrations in access exclusive mode')
      const run = await runCli(['status', '--module', 'admin'], { ...env(), ARTSTORE_QUERY_TIMEOUT: '2' })
      expect(run.exitCode).toBe(1)
      expect(run.stderr.trim().split('\n')).toEqual([
        'error: the database did not answer a query in time (ARTSTORE_QUERY_TIMEOUT, seconds): check that the server runs and answers; what the command had not committed is rolled back when its session ends',
      ])
    } finally {
      await holder.end()
    }
  })

  test('Ctrl-C ends a waiting command at once: one line, exit 130, nothing changed', async () => {
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    try {
      await holder.query('begin')
      await holder.query('lock table _prisma_migrations in access exclusive mode')
      const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'status', '--module', 'admin'], {
        env: { ...process.env, ...env(), ARTSTORE_DOTENV: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 100))
        if ((await query(url, `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)).length) break
      }
      child.kill('SIGINT')
      expect(await exited).toBe(130)
      expect(stderr.trim().split('\n')).toEqual([
        'error: interrupted (SIGINT): the step in progress was not committed, and the server rolls it back; run the command again',
      ])
    } finally {
      await holder.end()
    }
  })
})

describe('scratch databases of killed runs', () => {
  test('attack: a killed cycle left artstore_cycle_<hex> behind; the next run drops it, and keeps one a live run holds', async () => {
    const dead = 'artstore_cycle_deadbee1'
    const live = 'artstore_cycle_11feb00d'
    const holder = new pg.Client({ connectionString: urlFor('postgres') })
    await holder.connect()
    try {
      for (const d of [dead, live]) {
        await holder.query(`drop database if exists ${d}`)
        await holder.query(`create database ${d}`)
      }
      await holder.query('select pg_advisory_lock(1095914564, hashtext($1))', [live])
      const run = await runCli(['cycle', '--module', 'admin'], env())
      expect(run.exitCode, run.stdout + run.stderr).toBe(0)
      const left = await query<{ datname: string }>(urlFor('postgres'), `select datname from pg_database where datname = any($1) order by 1`, [[dead, live]])
      expect(left.map((r) => r.datname)).toEqual([live])
    } finally {
      await holder.query(`drop database if exists ${dead}`)
      await holder.query(`drop database if exists ${live}`)
      await holder.end()
    }
  })
})
