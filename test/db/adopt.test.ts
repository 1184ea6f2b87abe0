// Adopting the legacy databases in place (both Alembic generations, every module), through the CLI as
// a user runs it, with the proof checked from outside: rows, content, catalog, history, foreign tables.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, describe, expect, test } from 'vitest'
import { adopt, adoptModule } from '../../src/adopt/adopt.ts'
import { laterMigrations } from '../../src/baseline/baseline.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { status } from '../../src/status/status.ts'
import { verify } from '../../src/verify/verify.ts'
import { fingerprint } from '../../src/adopt/proof.ts'
import { archive } from '../../src/archive/archive.ts'
import { maskUrl } from '../../src/config/urls.ts'
import { modules, projectRoot, type ModuleName } from '../../src/modules.ts'
import { failingChecks } from '../helpers/checks.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { legacyFixtureFiles, loadLegacyFixture, type LegacyState } from '../helpers/legacy.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { scratchCopy } from '../helpers/workdir.ts'

const urlVar = { admin: 'ADMIN_DATABASE_URL', 'storage-element': 'STORAGE_ELEMENT_DATABASE_URL', query: 'QUERY_DATABASE_URL' } as const
const created: string[] = []

async function legacyDatabase(name: string, state: LegacyState, file: string): Promise<string> {
  const url = await freshDatabase(name)
  created.push(name)
  await loadLegacyFixture(url, state, file)
  return url
}

const tablesOf = async (url: string) =>
  (await query<{ t: string }>(url, `select tablename as t from pg_tables where schemaname = 'public' order by 1`)).map((r) => r.t)

async function fingerprintsOf(url: string, tables: readonly string[]) {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const out: Record<string, { rows: number; hash: string }> = {}
    for (const t of tables) out[t] = await fingerprint(c, 'public', t)
    return out
  } finally {
    await c.end()
  }
}

/** Index and constraint definitions of some tables: what "untouched" means for a foreign table. */
const definitionsOf = async (url: string, tables: readonly string[]) =>
  query(
    url,
    `select indexdef as d from pg_indexes where schemaname = 'public' and tablename = any($1)
     union all select conname || ' ' || pg_get_constraintdef(oid) from pg_constraint where conrelid::regclass::text = any($1) order by 1`,
    [tables],
  )

afterAll(async () => {
  for (const name of created) await dropDatabase(name)
})

describe.each(legacyFixtureFiles().map((f) => [`${f.state}/${f.file}`, f] as const))('adopt %s', (_, fixture) => {
  test('adopted with zero rows lost and identical content, then verify, status and deploy are clean', async () => {
    const module = fixture.module as ModuleName
    const url = await legacyDatabase(`adopt_${fixture.state.slice(0, 4)}_${fixture.file.replace(/-/g, '_')}`.slice(0, 50), fixture.state, fixture.file)
    const env = { [urlVar[module]]: url }
    const before = await tablesOf(url)
    const versionTable = before.find((t) => t.endsWith('alembic_version'))!
    const [{ v: revision }] = await query<{ v: string }>(url, `select version_num as v from ${versionTable}`)
    const fingerprintsBefore = await fingerprintsOf(
      url,
      before.filter((t) => t !== versionTable),
    )
    const moduleTables = before.filter((t) => !t.startsWith('test_storage') && t !== versionTable)
    const foreign = before.filter((t) => t.startsWith('test_storage'))
    const foreignDefinitions = await definitionsOf(url, foreign)

    // Behaviour through the library, as the CLI calls it; the CLI's exit codes and words are tested below.
    const [dry] = await adopt({ module, env, dryRun: true })
    expect(dry.status).toBe('would-adopt')
    expect(await tablesOf(url)).toEqual(before) // the dry run rolled everything back

    const [report] = await adopt({ module, env, yes: true })
    expect(report.status).toBe('adopted')
    expect(report.classification).toMatchObject({ kind: 'legacy', revisions: [revision], generation: fixture.state.startsWith('gen1') ? 'old-chain' : 'reset' })
    expect(report.classification.foreignTables).toEqual(foreign)
    expect(report.proof.map((p) => p.table).sort()).toEqual([...moduleTables].sort())
    expect(report.proof.every((p) => p.ok)).toBe(true)

    // Checked from outside: same rows and content in every table, the foreign ones byte for byte.
    const fingerprintsAfter = await fingerprintsOf(
      url,
      before.filter((t) => t !== versionTable),
    )
    expect(fingerprintsAfter).toEqual(fingerprintsBefore)
    expect(Object.values(fingerprintsBefore).some((f) => f.rows > 0)).toBe(true)
    expect(await definitionsOf(url, foreign)).toEqual(foreignDefinitions)
    const after = await tablesOf(url)
    expect(after).not.toContain(versionTable)
    expect(after).toEqual(expect.arrayContaining([...moduleTables, '_prisma_migrations']))
    expect(await query(url, `select migration_name, logs from _prisma_migrations`)).toEqual([
      { migration_name: '0_baseline', logs: expect.stringContaining(`${versionTable} = ${revision}`) },
    ])

    // Adopted at 0_baseline; the migrations after it (the query module's trigram indexes) are named,
    // and deploy applies them.
    const later = laterMigrations(modules[module])
    expect(report.pending).toEqual(later)
    const [deployed] = await deploy({ module, env })
    expect(deployed.migrations).toEqual(later)

    const [checklist] = await verify({ module, env })
    expect(checklist.ok, failingChecks(checklist).join('\n')).toBe(true)
    expect((await status({ module, env }))[0].state).toBe('up-to-date')
    expect((await deploy({ module, env }))[0].status).toBe('up-to-date')
    expect((await adopt({ module, env, yes: true }))[0].status).toBe('already-adopted')
  })
})

describe('adopt with another instance prefix', () => {
  test("the 8b9ca29 test_storage_* tables become the module's with --prefix test_storage", async () => {
    const url = await legacyDatabase('adopt_prefix', 'gen1-8b9ca29', 'storage-element')
    const env = { STORAGE_ELEMENT_DATABASE_URL: url }
    const tables = ['test_storage_config', 'test_storage_files', 'test_storage_wal']
    const before = await fingerprintsOf(url, tables)
    const [report] = await adopt({ module: 'storage-element', prefix: 'test_storage', env, yes: true })
    expect(report.status).toBe('adopted')
    expect(report.classification.foreignTables).toEqual([])
    expect(await fingerprintsOf(url, tables)).toEqual(before)
    expect(await tablesOf(url)).toEqual(['_prisma_migrations', ...tables])
    // Adopted at 0_baseline: the migrations after it (if any) are deployed as usual, then the checklist passes.
    expect((await deploy({ module: 'storage-element', prefix: 'test_storage', env }))[0].migrations).toEqual(report.pending)
    const [checklist] = await verify({ module: 'storage-element', prefix: 'test_storage', env })
    expect(checklist.ok, failingChecks(checklist).join('\n')).toBe(true)
  })
})

describe('adopt when later migrations exist', () => {
  test("the module's missing tables are created as 0_baseline creates them (the engine's TIMESTAMPTZ(6) made the proof refuse)", async () => {
    // The 8b9ca29 storage element has test_storage_* tables only: adopt creates storage_elem_01_*, from the
    // baseline replayed by the engine, since a later migration follows it.
    const prismaDir = copyPrismaDir('adopt-later', { at: 'baseline' })
    const later = path.join(prismaDir, 'storage-element', 'migrations', '20990101000000_cache_ttl')
    fs.mkdirSync(later)
    fs.writeFileSync(path.join(later, 'migration.sql'), 'ALTER TABLE "storage_elem_01_files" ADD COLUMN "cache_ttl_hours" INTEGER NOT NULL DEFAULT 24;\n')
    fs.writeFileSync(path.join(later, 'down.sql'), 'ALTER TABLE "storage_elem_01_files" DROP COLUMN "cache_ttl_hours";\n')
    const url = await legacyDatabase('adopt_later', 'gen1-8b9ca29', 'storage-element')
    const env = { STORAGE_ELEMENT_DATABASE_URL: url }
    const [report] = await adopt({ module: 'storage-element', env, prismaDir, yes: true })
    expect(report.status, JSON.stringify(report.failedChecks.slice(0, 3))).toBe('adopted')
    expect(report.pending).toEqual(['20990101000000_cache_ttl'])
    const types = await query<{ t: string }>(
      url,
      `select distinct format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'storage_elem_01_files'::regclass and atttypid = 'timestamptz'::regtype`,
    )
    expect(types).toEqual([{ t: 'timestamp with time zone' }])
    expect((await deploy({ module: 'storage-element', env, prismaDir }))[0].migrations).toEqual(['20990101000000_cache_ttl'])
  })
})

describe('adopt refuses, and changes nothing', () => {
  test('a dangerous drift (a column the schema does not have would be dropped)', async () => {
    const url = await legacyDatabase('adopt_dangerous', 'gen2-d00e065', 'admin')
    await query(url, 'alter table users add column nickname text')
    await query(url, `update users set nickname = 'keep me'`)
    const before = await fingerprintsOf(url, await tablesOf(url))
    const run = await runCli(['adopt', '--module', 'admin', '--yes'], { ADMIN_DATABASE_URL: url })
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('⚠ AlterTable users: drops column nickname and its data')
    expect(run.stdout).toContain('refused: 1 dangerous step(s); nothing was changed')
    expect(await fingerprintsOf(url, await tablesOf(url))).toEqual(before)
    expect(await tablesOf(url)).toContain('alembic_version')
  })

  test('a tampered baseline row is an error (exit 1)', async () => {
    const url = await legacyDatabase('adopt_tampered', 'gen2-d00e065', 'query')
    expect((await adopt({ module: 'query', env: { QUERY_DATABASE_URL: url }, yes: true }))[0].status).toBe('adopted')
    await query(url, `update _prisma_migrations set checksum = repeat('0', 64)`)
    const run = await runCli(['adopt', '--module', 'query', '--yes'], { QUERY_DATABASE_URL: url })
    expect(run.exitCode).toBe(1)
    expect(run.stderr.trim()).toMatch(
      /^error: query: the 0_baseline row in public\._prisma_migrations has checksum 000000000000…, not the committed baseline's: .*npx artstore-db verify --module query$/,
    )
  })

  test('without --yes or --dry-run', async () => {
    const run = await runCli(['adopt', '--module', 'admin'], { ADMIN_DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/none' })
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe('error: adopt changes the database in place: add --yes to apply, or --dry-run to see the plan and its proof')
  })

  test("a module URL that points at another module's database", async () => {
    const url = await legacyDatabase('adopt_wrong_db', 'gen1-8b9ca29', 'query')
    const before = await tablesOf(url)
    const run = await runCli(['adopt', '--module', 'admin', '--yes'], { ADMIN_DATABASE_URL: url })
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/is the query module's database .*not the admin module's: point ADMIN_DATABASE_URL at the admin database/)
    expect(await tablesOf(url)).toEqual(before)
  })
})

describe('adopt is serialized and crash-safe', () => {
  test('two concurrent adopts: one adopts, the other waits and finds it done; one history row', async () => {
    const url = await legacyDatabase('adopt_concurrent', 'gen1-8b9ca29', 'admin')
    const env = { ADMIN_DATABASE_URL: url }
    const [a, b] = await Promise.all([runCli(['adopt', '--module', 'admin', '--yes'], env), runCli(['adopt', '--module', 'admin', '--yes'], env)])
    expect([a.exitCode, b.exitCode]).toEqual([0, 0])
    expect([a.stdout, b.stdout].filter((o) => o.includes('✅ admin: adopted'))).toHaveLength(1)
    expect([a.stdout, b.stdout].filter((o) => o.includes('already-adopted'))).toHaveLength(1)
    expect(await query(url, 'select count(*)::int as n from _prisma_migrations')).toEqual([{ n: 1 }])
  })

  test('a process killed in the middle of the transaction leaves the database exactly as before', async () => {
    const url = await legacyDatabase('adopt_killed', 'gen2-d00e065', 'admin')
    const before = { tables: await tablesOf(url), data: await fingerprintsOf(url, await tablesOf(url)), defs: await definitionsOf(url, await tablesOf(url)) }
    // Readers may pass, but retiring alembic_version (the last statement) must wait: the adopter is
    // then inside its transaction with every other statement run.
    const blocker = new pg.Client({ connectionString: url })
    await blocker.connect()
    await blocker.query('begin')
    await blocker.query('lock table alembic_version in share mode')
    const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'adopt', '--module', 'admin', '--yes'], {
      env: { ...process.env, ARTSTORE_DOTENV: '0', ADMIN_DATABASE_URL: url },
      stdio: 'ignore',
    })
    const exited = new Promise((r) => child.on('close', r))
    let waiting = false
    for (let i = 0; i < 200 && !waiting; i++) {
      const rows = await query(
        url,
        `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'DROP TABLE "alembic_version"%'`,
      )
      waiting = rows.length > 0
      if (!waiting) await new Promise((r) => setTimeout(r, 100))
    }
    expect(waiting).toBe(true)
    child.kill('SIGKILL')
    await exited
    await blocker.query('rollback')
    await blocker.end()
    // The server notices the dead client and rolls its transaction back.
    for (let i = 0; i < 50; i++) {
      const busy = await query(url, `select 1 from pg_stat_activity where datname = current_database() and query like 'DROP TABLE "alembic_version"%'`)
      if (!busy.length) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(await tablesOf(url)).toEqual(before.tables)
    expect(await fingerprintsOf(url, before.tables)).toEqual(before.data)
    expect(await definitionsOf(url, before.tables)).toEqual(before.defs)
  })
})

describe('backup, restore and the archive record', () => {
  test('adopt backs up the critical data owner-only, never prints a secret, and restore puts rows back', async () => {
    const url = await legacyDatabase('adopt_backup', 'gen2-d00e065', 'admin')
    const secrets = await query<{ s: string }>(url, `select client_secret_hash as s from service_accounts union all select private_key from jwt_keys`)
    const run = await runCli(['adopt', '--module', 'admin', '--yes', '--json'], { ADMIN_DATABASE_URL: url })
    expect(run.exitCode).toBe(0)
    for (const { s } of secrets) expect(run.stdout + run.stderr).not.toContain(s)
    const dir = JSON.parse(run.stdout)[0].backup as string
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(dir).sort()).toEqual(['backup.json', 'jwt_keys.json', 'service_accounts.json', 'storage_elements.json', 'users.json'])

    const accounts = await query(url, 'select id, name, secret_history from service_accounts order by id')
    await query(url, 'delete from audit_logs where service_account_id is not null')
    await query(url, 'delete from service_accounts')
    const dry = await runCli(['restore', '--from', dir, '--dry-run'], { ADMIN_DATABASE_URL: url })
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(await query(url, 'select count(*)::int as n from service_accounts')).toEqual([{ n: 0 }])
    const restored = await runCli(['restore', '--from', dir, '--yes'], { ADMIN_DATABASE_URL: url })
    expect(restored.exitCode, restored.stderr).toBe(0)
    expect(await query(url, 'select id, name, secret_history from service_accounts order by id')).toEqual(accounts)
    // Serial ids come back too, and the sequence moves past them.
    const users = await query<{ id: number }>(url, 'select id from users order by id desc limit 1')
    await query(url, 'delete from audit_logs where user_id is not null')
    await query(url, 'delete from users')
    await query(url, `select setval('users_id_seq', 1, false)`)
    expect((await runCli(['restore', '--from', dir, '--yes'], { ADMIN_DATABASE_URL: url })).exitCode).toBe(0)
    const [fresh] = await query<{ id: number }>(
      url,
      `insert into users (username, email, role, status, is_system, failed_login_attempts) values ('new', 'new@example.org', 'USER', 'ACTIVE', false, 0) returning id`,
    )
    expect(fresh.id).toBe(users[0].id + 1)
    fs.rmSync(dir, { recursive: true })
  })

  test("the retired Alembic revision is recorded in the module's archive manifest, which still verifies", async () => {
    const url = await legacyDatabase('adopt_archive', 'gen1-8b9ca29', 'admin')
    const root = path.join(scratchCopy('alembic/legacy-8b9ca29', 'adopt-archive'), 'root')
    const from = path.join(path.dirname(root), 'admin', 'versions')
    await archive({ module: 'admin', from, root, date: '2025-11-16' })
    const target = { module: modules.admin, url, source: 'ADMIN_DATABASE_URL' as const, pgSchema: 'public', display: maskUrl(url) }
    const report = await adoptModule(target, { yes: true, archiveRoot: root })
    expect(report.status).toBe('adopted')
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'admin', 'archive', '2025-11-16-alembic', 'manifest.json'), 'utf8'))
    expect(manifest.retired).toEqual([
      {
        pgSchema: 'public',
        versionTable: 'alembic_version',
        revisions: ['20251116_1630_pwd_policy'],
        generation: 'old-chain',
        adoptedAt: expect.stringMatching(/^\d{4}-\d\d-\d\d$/),
      },
    ])
    expect(fs.readFileSync(path.join(root, 'admin', 'archive', '2025-11-16-alembic', 'MANIFEST.md'), 'utf8')).toContain('## Retired by adoption')
    const verify = await runCli(['archive', 'verify', '--module', 'admin', '--root', root])
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0)
  })
})
