// A fleet of storage elements through an instances file: deploy, status, verify and rollback of every
// instance, bounded concurrency, a canary that stops a rollout, a failing instance reported while the
// others succeed, a bad file refused.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { loadServicesSharedDatabase } from '../helpers/legacy.ts'
import { scratchRoot } from '../helpers/workdir.ts'
import { scratchTree } from './cache-helpers.ts'

let url: string
const dir = path.join(scratchRoot, 'fleet')
// The services' layout for the whole file (its instances share one schema), unless a test says otherwise.
const file = (name: string, instances: unknown[], top: Record<string, unknown> = { layout: 'shared' }) => {
  fs.mkdirSync(dir, { recursive: true })
  const f = path.join(dir, `${name}.json`)
  fs.writeFileSync(f, JSON.stringify({ ...top, instances }, null, 2))
  return f
}
const three = () => [
  { name: 'se-01', urlEnv: 'SE_DATABASE_URL', prefix: 'storage_elem_01' },
  { name: 'se-02', urlEnv: 'SE_DATABASE_URL', prefix: 'storage_elem_02' },
  { name: 'se-03', url, prefix: 'storage_elem_03' },
]
const env = () => ({ SE_DATABASE_URL: url })
const tables = async () =>
  (await query<{ t: string }>(url, `select tablename as t from pg_tables where schemaname = 'public' and tablename like '%_files' order by 1`)).map((r) => r.t)

beforeAll(async () => {
  url = await freshDatabase('fleet')
})
afterAll(async () => {
  await dropDatabase('fleet')
})

describe('the fleet', () => {
  test('deploy, status and verify of three instances in one schema through the file; the URL comes from a variable, never printed', async () => {
    const f = file('three', three())
    const run = await runCli(['deploy', '--instances', f, '--concurrency', '2', '--json'], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const r = JSON.parse(run.stdout)
    expect(r.rows.map((x: { instance: string; status: string }) => [x.instance, x.status])).toEqual([
      ['se-01', 'ok'],
      ['se-02', 'ok'],
      ['se-03', 'ok'],
    ])
    expect([r.ok, r.failed, r.skipped]).toEqual([3, 0, 0])
    expect(await tables()).toEqual(['storage_elem_01_files', 'storage_elem_02_files', 'storage_elem_03_files'])
    const st = await runCli(['status', '--instances', f], env())
    expect(st.exitCode, st.stdout).toBe(0)
    expect(st.stdout.trim().split('\n').at(-1)).toBe('3 instance(s): 3 ok, 0 failed, 0 skipped')
    const v = await runCli(['verify', '--instances', f, '--concurrency', '2'], env())
    expect(v.exitCode, v.stdout).toBe(0)
  })

  test('a fourth instance added to the file is deployed; the others are up to date', async () => {
    const f = file('four', [...three(), { name: 'se-04', urlEnv: 'SE_DATABASE_URL', prefix: 'storage_elem_04' }])
    const run = await runCli(['deploy', '--instances', f], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toMatch(/✅ se-04 \(storage_elem_04\): applied: 0_baseline/)
    expect(run.stdout).toMatch(/✅ se-01 \(storage_elem_01\): up-to-date/)
  })

  test('an unreachable instance is reported as failed while the others succeed (exit 1)', async () => {
    const f = file('unreachable', [...three(), { name: 'se-gone', url: 'postgresql://postgres@127.0.0.1:1/artstore', prefix: 'storage_elem_09' }])
    const run = await runCli(['status', '--instances', f], env())
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/❌ se-gone \(storage_elem_09\): cannot reach the database server at 127\.0\.0\.1:1/)
    expect(run.stdout.trim().split('\n').at(-1)).toBe('4 instance(s): 3 ok, 1 failed, 0 skipped')
  })

  test("attack: a fleet's errors named STORAGE_ELEMENT_DATABASE_URL, which the user never set; now they name the instances file entry", async () => {
    const missing = new URL(url)
    missing.pathname = '/artstore_t_fleet_no_such_database'
    const queryDb = await freshDatabase('fleet_wrong_module')
    try {
      expect((await runCli(['deploy', '--module', 'query'], { QUERY_DATABASE_URL: queryDb })).exitCode).toBe(0)
      const f = file('origins', [
        { name: 'se-gone', url: 'postgresql://postgres@127.0.0.1:1/artstore', prefix: 'storage_elem_09' },
        { name: 'se-missing', urlEnv: 'SE_MISSING_URL', prefix: 'storage_elem_09' },
        { name: 'se-query', urlEnv: 'SE_QUERY_URL', prefix: 'storage_elem_09' },
      ])
      const run = await runCli(['deploy', '--instances', f], { SE_MISSING_URL: missing.toString(), SE_QUERY_URL: queryDb })
      expect(run.exitCode).toBe(1)
      expect(run.stdout).not.toContain('STORAGE_ELEMENT_DATABASE_URL')
      expect(run.stdout).toContain(
        'cannot reach the database server at 127.0.0.1:1: start it, or fix the host and port in the instances file entry se-gone (url)',
      )
      expect(run.stdout).toContain('or point the instances file entry se-missing (urlEnv SE_MISSING_URL) at an existing one')
      expect(run.stdout).toContain(
        "not the storage-element module's: point the instances file entry se-query (urlEnv SE_QUERY_URL) at the storage-element database",
      )
    } finally {
      await dropDatabase('fleet_wrong_module')
    }
  })

  test('the canary stops a rollout: its failure leaves the rest untouched (skipped, exit 1)', async () => {
    const f = file('canary', [
      { name: 'se-gone', url: 'postgresql://postgres@127.0.0.1:1/artstore', prefix: 'storage_elem_09' },
      { name: 'se-05', url, prefix: 'storage_elem_05' },
      { name: 'se-06', url, prefix: 'storage_elem_06' },
    ])
    const run = await runCli(['deploy', '--instances', f, '--canary', '1'], env())
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/⏭️ se-05 \(storage_elem_05\): skipped: a canary failed/)
    expect(run.stdout.trim().split('\n').at(-1)).toBe('3 instance(s): 0 ok, 1 failed, 2 skipped')
    expect(await tables()).not.toContain('storage_elem_05_files')
  })

  test('rollback of every instance of a file, then deploy again', async () => {
    const f = file('three-again', three())
    const refused = await runCli(['rollback', '--instances', f], env())
    expect(refused.exitCode).toBe(2)
    const run = await runCli(['rollback', '--instances', f, '--all', '--yes'], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await tables()).toEqual(['storage_elem_04_files'])
    expect((await runCli(['deploy', '--instances', f], env())).exitCode).toBe(0)
  })

  test('a bad file is one line, exit 2: not JSON, a missing variable, a secret-free file is the rule', async () => {
    fs.writeFileSync(path.join(dir, 'bad.json'), 'not json')
    const notJson = await runCli(['status', '--instances', path.join(dir, 'bad.json')], env())
    expect(notJson.exitCode).toBe(2)
    expect(notJson.stderr.trim()).toBe(
      `error: ${path.join(dir, 'bad.json')} is not a usable instances file (not JSON): see README "A fleet of storage elements" for its format`,
    )
    const unset = await runCli(['status', '--instances', file('unset', [{ name: 'x', urlEnv: 'NOT_SET_ANYWHERE', prefix: 'storage_elem_01' }])], env())
    expect(unset.exitCode).toBe(2)
    expect(unset.stderr).toContain('x: the variable NOT_SET_ANYWHERE is not set')
    const withPrefix = await runCli(['status', '--instances', file('three', three()), '--prefix', 'storage_elem_01'], env())
    expect(withPrefix.exitCode).toBe(2)
  })
})

describe('an interrupted fleet reports what finished, what was interrupted and what had not started', () => {
  /** The command line as a child of its own, to be signalled; resolves with its exit code and output. */
  const start = (args: string[], extra: Record<string, string>) => {
    const base = { ...process.env }
    for (const v of ['DATABASE_URL', 'ADMIN_DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL']) delete base[v]
    const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), ...args], {
      cwd: projectRoot,
      env: { ...base, ARTSTORE_DOTENV: '0', ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const done = new Promise<{ exitCode: number; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ exitCode: code ?? -1, stdout, stderr })),
    )
    return { child, done }
  }

  test.each([
    ['SIGTERM', 143, false],
    ['SIGINT', 130, true],
  ] as const)('attack: %s mid-fleet printed no per-instance report; now the lines of every instance, then exit %i (json: %s)', async (signal, code, json) => {
    const f = file('interrupted', three())
    // se-02's history is locked: its status waits there, se-01 has finished, se-03 waits its turn (one at a time).
    const holder = new pg.Client({ connectionString: url })
    holder.on('error', () => undefined)
    await holder.connect()
    try {
      await holder.query('begin')
      await holder.query('lock table artstore_storage_elem_02._prisma_migrations in access exclusive mode')
      const run = start(['status', '--instances', f, '--concurrency', '1', ...(json ? ['--json'] : [])], env())
      let waiting = false
      let exited = false
      void run.done.then(() => (exited = true))
      while (!waiting && !exited) {
        // Not on the holder: inside its transaction pg_stat_activity stays the snapshot of its first read.
        const r = await query(
          url,
          `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%_prisma_migrations%'`,
        )
        waiting = r.length > 0
        if (!waiting) await new Promise((r) => setTimeout(r, 100))
      }
      run.child.kill(signal)
      const out = await run.done
      expect(out.exitCode, out.stdout + out.stderr).toBe(code)
      expect(out.stderr).toContain(`error: interrupted (${signal})`)
      if (json) {
        const r = JSON.parse(out.stdout)
        expect(r.rows.map((x: { instance: string; status: string }) => [x.instance, x.status])).toEqual([
          ['se-01', 'ok'],
          ['se-02', 'interrupted'],
          ['se-03', 'not-started'],
        ])
        expect([r.ok, r.failed, r.skipped, r.interrupted, r.notStarted]).toEqual([1, 0, 0, 1, 1])
      } else {
        const lines = out.stdout.trim().split('\n')
        expect(lines).toHaveLength(4)
        expect(lines[0]).toMatch(/^✅ se-01 \(storage_elem_01\): up-to-date/)
        expect(lines[1]).toMatch(/^⛔ se-02 \(storage_elem_02\): interrupted: what it had not committed is rolled back {2}\(/)
        expect(lines[2]).toMatch(/^⏸️ se-03 \(storage_elem_03\): not started {2}\(/)
        expect(lines[3]).toBe('3 instance(s): 1 ok, 0 failed, 0 skipped, 1 interrupted, 1 not started')
      }
    } finally {
      await holder.query('rollback')
      await holder.end()
    }
  })
})

describe('duplicate targets are refused, as duplicate names are', () => {
  const where = () => `${new URL(url).hostname}:${new URL(url).port || '5432'}`
  // The same database as `url`, written otherwise: another scheme spelling, a password, the default port spelt out, ?schema=public.
  const sameDatabase = () => {
    const u = new URL(url.replace(/^postgresql:/, 'postgres:'))
    u.password = 'not-the-point'
    if (!u.port) u.port = '5432'
    u.searchParams.set('schema', 'public')
    return u.toString()
  }

  test('attack: two names, one database, layout and prefix: cache rebuild --prune of the second deleted the rows the first wrote; now exit 2 naming both, nothing read or written', async () => {
    const lenv = { STORAGE_ELEMENT_DATABASE_URL: url, STORAGE_ELEMENT_LAYOUT: 'shared' }
    expect((await runCli(['deploy', '--module', 'storage-element', '--prefix', 'storage_elem_07'], lenv)).exitCode).toBe(0)
    const a = (await scratchTree('fleet-dup-a', { count: 20, seed: 91 })).root
    const b = (await scratchTree('fleet-dup-b', { count: 5, seed: 92 })).root
    const alone = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--prefix', 'storage_elem_07', '--root', a], lenv)
    expect(alone.exitCode, alone.stderr).toBe(0)
    const rows = async () => Number((await query<{ n: string }>(url, 'select count(*) as n from public.storage_elem_07_files'))[0].n)
    expect(await rows()).toBe(20)
    const f = file('duplicate', [
      { name: 'se-01', urlEnv: 'SE_DATABASE_URL', prefix: 'storage_elem_07', root: a },
      { name: 'se-02', url: sameDatabase(), prefix: 'storage_elem_07', root: b },
    ])
    const run = await runCli(['cache', 'rebuild', '--module', 'storage-element', '--instances', f, '--prune'], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(2)
    const database = decodeURIComponent(new URL(url).pathname.slice(1))
    expect(run.stderr.trim()).toBe(
      `error: ${f} is not a usable instances file (se-01 (urlEnv SE_DATABASE_URL) and se-02 (url) are one target (database ${database} on ${where()}, schema public, prefix storage_elem_07): each would undo the other's work; remove one, or give it its own prefix or database): see README "A fleet of storage elements" for its format`,
    )
    expect(run.stdout).toBe('')
    expect(await rows()).toBe(20)
    for (const command of [['deploy'], ['status'], ['verify']]) expect((await runCli([...command, '--instances', f], env())).exitCode).toBe(2)
  })

  test('the schema layout: two prefixes in one schema would share one history table: refused, naming both and the shared layout', async () => {
    const f = file(
      'one-history',
      [
        { name: 'se-01', urlEnv: 'SE_DATABASE_URL', prefix: 'storage_elem_01', layout: 'schema' },
        { name: 'se-02', url: sameDatabase(), prefix: 'storage_elem_02', layout: 'schema' },
      ],
      {},
    )
    const run = await runCli(['status', '--instances', f], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(2)
    expect(run.stderr).toContain(
      `se-01 (urlEnv SE_DATABASE_URL) and se-02 (url) would keep their histories in one table (public._prisma_migrations of database ${decodeURIComponent(new URL(url).pathname.slice(1))} on ${where()}): give each its own database or ?schema=, or "layout": "shared"`,
    )
    // Apart they are two targets: another schema, or another database.
    const apart = file('apart', [
      { name: 'se-01', url: `${url}?schema=se_one`, prefix: 'storage_elem_01', layout: 'schema' },
      { name: 'se-02', url: `${url}?schema=se_two`, prefix: 'storage_elem_01', layout: 'schema' },
    ])
    expect((await runCli(['status', '--instances', apart], env())).stderr).not.toContain('not a usable instances file')
  })
})

describe('cache rebuild across the fleet', () => {
  test("the query module's cache rebuilt for two storage elements from their roots, a third's rows untouched", async () => {
    const queryUrl = await freshDatabase('fleet_query')
    try {
      const qenv = { ...env(), QUERY_DATABASE_URL: queryUrl }
      expect((await runCli(['deploy', '--module', 'query'], qenv)).exitCode).toBe(0)
      const roots = await Promise.all(['a', 'b', 'c'].map(async (x, i) => (await scratchTree(`fleet-query-${x}`, { count: 30 + i, seed: 80 + i })).root))
      const third = await runCli(
        ['cache', 'rebuild', '--module', 'query', '--root', roots[2], '--storage-element-id', 'se-c', '--storage-element-url', 'http://se-c:8010'],
        qenv,
      )
      expect(third.exitCode, third.stderr).toBe(0)
      const theirs = async () => query(queryUrl, `select id, cache_updated_at from file_metadata_cache where storage_element_id = 'se-c' order by id`)
      const before = await theirs()
      expect(before).toHaveLength(32)
      const f = file('query', [
        { name: 'se-a', url, prefix: 'storage_elem_01', root: roots[0], elementUrl: 'http://se-a:8010' },
        { name: 'se-b', url, prefix: 'storage_elem_02', root: roots[1], elementUrl: 'http://se-b:8010' },
      ])
      const run = await runCli(['cache', 'rebuild', '--module', 'query', '--instances', f, '--prune'], qenv)
      expect(run.exitCode, run.stdout + run.stderr).toBe(0)
      const counts = await query<{ e: string; n: number }>(
        queryUrl,
        `select storage_element_id as e, count(*)::int as n from file_metadata_cache group by 1 order by 1`,
      )
      expect(counts).toEqual([
        { e: 'se-a', n: 30 },
        { e: 'se-b', n: 31 },
        { e: 'se-c', n: 32 },
      ])
      expect(await theirs()).toEqual(before)
      // Two entries that write one element id: the second took the first's rows for its own, and --prune deleted them.
      const twice = file('query-twice', [
        { name: 'se-a', url, prefix: 'storage_elem_01', root: roots[0], elementUrl: 'http://se-a:8010' },
        { name: 'se-b2', url, prefix: 'storage_elem_02', root: roots[1], elementId: 'se-a', elementUrl: 'http://se-b:8010' },
      ])
      const refused = await runCli(['cache', 'rebuild', '--module', 'query', '--instances', twice, '--prune'], qenv)
      expect(refused.exitCode, refused.stdout + refused.stderr).toBe(2)
      expect(refused.stderr).toContain('(se-a and se-b2 both write the storage element id se-a into the query cache: give each its own "elementId")')
      expect(await query(queryUrl, `select storage_element_id as e, count(*)::int as n from file_metadata_cache group by 1 order by 1`)).toEqual(counts)
    } finally {
      await dropDatabase('fleet_query')
    }
  })
})

test('migrate check for every instance of a file', async () => {
  const run = await runCli(['migrate', 'check', '--instances', file('check', three())], env())
  expect(run.exitCode, run.stdout + run.stderr).toBe(0)
  expect(run.stdout.trim().split('\n').at(-1)).toBe('3 instance(s): 3 ok, 0 failed, 0 skipped')
})

test("adopting the services' shared database through the instances file: three instances in place, then deploy and verify green", async () => {
  const legacy = await freshDatabase('fleet_legacy')
  try {
    await loadServicesSharedDatabase(legacy)
    const f = file(
      'legacy',
      ['01', '02', '03'].map((n) => ({ name: `se-${n}`, urlEnv: 'LEGACY_URL', prefix: `storage_elem_${n}` })),
    )
    const lenv = { LEGACY_URL: legacy }
    const adopted = await runCli(['adopt', '--instances', f, '--yes', '--concurrency', '1', '--json'], lenv)
    expect(adopted.exitCode, adopted.stdout + adopted.stderr).toBe(0)
    const r = JSON.parse(adopted.stdout)
    expect(r.rows.map((x: { result: { status: string } }) => x.result.status)).toEqual(['adopted', 'adopted', 'adopted'])
    expect((await runCli(['deploy', '--instances', f], lenv)).exitCode).toBe(0)
    const v = await runCli(['verify', '--instances', f], lenv)
    expect(v.exitCode, v.stdout).toBe(0)
  } finally {
    await dropDatabase('fleet_legacy')
  }
})
