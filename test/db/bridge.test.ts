// Regression suite of the offline schema-engine bridge: the real `prisma` CLI, through the bridge,
// against real PostgreSQL. Each step builds on the one before, in one database of its own.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runPrisma } from '../../src/prisma/run.ts'
import { databasesLike, dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { scratchCopy, writeMigration } from '../helpers/workdir.ts'

const dir = scratchCopy('bridge', 'bridge')
const config = path.join(dir, 'prisma.config.ts')
let url: string

const prisma = (args: string[], env: Record<string, string> = {}) => runPrisma(args, { configFile: config, cwd: dir, env: { BRIDGE_TEST_URL: url, ...env } })

const tables = async (schema: string) =>
  (await query<{ t: string }>(url, `select table_name as t from information_schema.tables where table_schema = $1 order by 1`, [schema])).map((r) => r.t)
const history = () =>
  query<{ migration_name: string; finished: boolean; rolled_back: boolean }>(
    url,
    `select migration_name, finished_at is not null as finished, rolled_back_at is not null as rolled_back
       from public._prisma_migrations order by started_at`,
  )
const strayShadows = () => databasesLike('prisma_migrate_shadow_db_%')

beforeAll(async () => {
  url = await freshDatabase('bridge')
})
afterAll(async () => {
  await dropDatabase('bridge')
  await dropDatabase('bridge_shadow')
})

describe('prisma CLI through the offline engine bridge', () => {
  test('--version reports the bridge with the CLI engine hash', async () => {
    const run = await prisma(['--version'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(
      /Schema Engine\s+: schema-engine-cli d1b3f377ca835d73fd50954a5e22128b9ebdd6b8 \(at .*schema-engine\.mjs, resolved by PRISMA_SCHEMA_ENGINE_BINARY\)/,
    )
  })

  test('migrate diff --from-empty --to-schema --script prints the whole multi-schema script', async () => {
    const run = await prisma(['migrate', 'diff', '--from-empty', '--to-schema', path.join(dir, 'schema.prisma'), '--script'])
    expect(run.exitCode).toBe(0)
    for (const piece of [
      'CREATE SCHEMA IF NOT EXISTS "audit";',
      'CREATE TYPE "app"."account_status" AS ENUM (\'ACTIVE\', \'DISABLED\');',
      'CREATE TABLE "app"."accounts"',
      'CREATE TABLE "audit"."events"',
      'CREATE INDEX "events_account_idx" ON "audit"."events"("account_id");',
      'ON DELETE SET NULL',
    ]) {
      expect(run.stdout).toContain(piece)
    }
    writeMigration(dir, '0001_init', run.stdout)
  })

  test('migrate deploy applies the init migration into both schemas', async () => {
    const run = await prisma(['migrate', 'deploy'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await tables('app')).toEqual(['accounts'])
    expect(await tables('audit')).toEqual(['events'])
    expect(await history()).toEqual([{ migration_name: '0001_init', finished: true, rolled_back: false }])
  })

  test('drift check exits 0 when the database matches and 2 when it does not', async () => {
    const drift = ['migrate', 'diff', '--from-config-datasource', '--to-schema', path.join(dir, 'schema.prisma'), '--exit-code']
    expect((await prisma(drift)).exitCode).toBe(0)
    await query(url, 'alter table app.accounts add column nickname text')
    const drifted = await prisma(drift)
    expect(drifted.exitCode).toBe(2)
    expect(drifted.stdout).toContain('nickname')
    await query(url, 'alter table app.accounts drop column nickname')
    expect((await prisma(drift)).exitCode).toBe(0)
  })

  test('migrate deploy runs a migration whose function body holds semicolons ($$)', async () => {
    writeMigration(
      dir,
      '0002_function',
      `CREATE FUNCTION app.normalise_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.email := lower(NEW.email);
  RETURN NEW;
END;
$$;
CREATE TRIGGER accounts_normalise BEFORE INSERT ON app.accounts FOR EACH ROW EXECUTE FUNCTION app.normalise_email();
`,
    )
    const run = await prisma(['migrate', 'deploy'])
    expect(run.exitCode, run.stderr).toBe(0)
    await query(url, `insert into app.accounts (email) values ('Mixed@Example.ORG')`)
    expect(await query(url, 'select email from app.accounts')).toEqual([{ email: 'mixed@example.org' }])
  })

  test('a migration that fails half-way leaves nothing behind', async () => {
    writeMigration(dir, '0003_half', `CREATE TABLE app.half (id int);\nINSERT INTO app.does_not_exist VALUES (1);\n`)
    const run = await prisma(['migrate', 'deploy'])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('Error: P3018')
    expect(run.stderr).toContain('Migration name: 0003_half')
    expect(run.stderr).toContain('Database error code: 42P01')
    expect(run.stderr).toContain('ERROR: relation "app.does_not_exist" does not exist')
    expect(await tables('app')).toEqual(['accounts'])
    expect((await history()).at(-1)).toEqual({ migration_name: '0003_half', finished: false, rolled_back: false })
  })

  test('migrate status reports the failed migration (exit 1)', async () => {
    const run = await prisma(['migrate', 'status'])
    expect(run.exitCode).toBe(1)
    expect(run.stdout + run.stderr).toMatch(/0003_half/)
  })

  test('migrate resolve --rolled-back marks the failed migration, and a fixed one then deploys', async () => {
    const resolved = await prisma(['migrate', 'resolve', '--rolled-back', '0003_half'])
    expect(resolved.exitCode, resolved.stderr).toBe(0)
    expect((await history()).at(-1)).toEqual({ migration_name: '0003_half', finished: false, rolled_back: true })
    writeMigration(dir, '0003_half', 'CREATE TABLE app.half (id int);\n')
    const run = await prisma(['migrate', 'deploy'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await tables('app')).toEqual(['accounts', 'half'])
  })

  test('db execute runs a script, and migrate resolve --applied records it', async () => {
    const sql = 'CREATE TABLE app.manual (id int primary key);\n'
    writeMigration(dir, '0004_manual', sql)
    const exec = await prisma(['db', 'execute', '--file', path.join(dir, 'migrations', '0004_manual', 'migration.sql')])
    expect(exec.exitCode, exec.stderr).toBe(0)
    expect(await tables('app')).toContain('manual')
    const resolved = await prisma(['migrate', 'resolve', '--applied', '0004_manual'])
    expect(resolved.exitCode, resolved.stderr).toBe(0)
    expect((await history()).at(-1)).toEqual({ migration_name: '0004_manual', finished: true, rolled_back: false })
    const status = await prisma(['migrate', 'status'])
    expect(status.exitCode, status.stdout).toBe(0)
    expect(status.stdout).toContain('Database schema is up to date!')
  })

  test('db pull --print introspects a table with a CHECK constraint', async () => {
    await query(url, 'create table app.checked (id int primary key, qty int not null check (qty > 0))')
    const run = await prisma(['db', 'pull', '--print'])
    await query(url, 'drop table app.checked')
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/model checked \{[\s\S]*qty\s+Int[\s\S]*@@schema\("app"\)/)
  })

  test('migrate dev --create-only with a temporary shadow database leaves no stray database', async () => {
    fs.appendFileSync(path.join(dir, 'schema.prisma'), '\nmodel Note {\n  id Int @id\n  @@map("notes")\n  @@schema("app")\n}\n')
    const run = await prisma(['migrate', 'dev', '--create-only', '--name', 'add_note'])
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const created = fs.readdirSync(path.join(dir, 'migrations')).find((d) => d.endsWith('_add_note'))!
    expect(fs.readFileSync(path.join(dir, 'migrations', created, 'migration.sql'), 'utf8')).toContain('CREATE TABLE "app"."notes"')
    expect(await tables('app')).not.toContain('notes') // --create-only applies nothing
    expect(await strayShadows()).toEqual([])
  })

  test('migrate dev --create-only with an explicit shadow URL uses that database', async () => {
    const shadowUrl = await freshDatabase('bridge_shadow')
    await query(shadowUrl, 'create table leftover (id int)') // the engine starts from an empty shadow
    fs.appendFileSync(path.join(dir, 'schema.prisma'), '\nmodel Tag {\n  id Int @id\n  @@map("tags")\n  @@schema("app")\n}\n')
    const run = await prisma(['migrate', 'dev', '--create-only', '--name', 'add_tag'], { BRIDGE_TEST_SHADOW_URL: shadowUrl })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const created = fs.readdirSync(path.join(dir, 'migrations')).find((d) => d.endsWith('_add_tag'))!
    const sql = fs.readFileSync(path.join(dir, 'migrations', created, 'migration.sql'), 'utf8')
    expect(sql).toContain('CREATE TABLE "app"."tags"')
    expect(sql).not.toContain('"notes"') // the pending add_note migration was replayed on the shadow
    expect(await query(shadowUrl, `select to_regclass('public.leftover') as t`)).toEqual([{ t: null }])
    expect(await strayShadows()).toEqual([])
  })

  test('a shadow replay that fails still drops the temporary shadow database', async () => {
    writeMigration(dir, '0009_broken', 'SELECT * FROM no_such_table;\n')
    const run = await prisma(['migrate', 'dev', '--create-only', '--name', 'never'])
    fs.rmSync(path.join(dir, 'migrations', '0009_broken'), { recursive: true })
    expect(run.exitCode).not.toBe(0)
    expect(run.stdout + run.stderr).toContain('0009_broken')
    expect(await strayShadows()).toEqual([])
  })

  test('migrate reset --force drops the data and re-applies every migration', async () => {
    const run = await prisma(['migrate', 'reset', '--force'])
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await query(url, 'select count(*)::int as n from app.accounts')).toEqual([{ n: 0 }])
    expect(await tables('app')).toEqual(['accounts', 'notes', 'tags']) // add_note dropped half and manual
    expect((await history()).every((h) => h.finished && !h.rolled_back)).toBe(true)
  })

  test('prisma generate, then the client creates and reads rows through adapter-pg', async () => {
    const run = await prisma(['generate'])
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const { PrismaClient } = await import(path.join(dir, 'generated', 'client.ts'))
    const { PrismaPg } = await import('@prisma/adapter-pg')
    const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) })
    try {
      const account = await client.account.create({ data: { email: 'Client@Example.org', events: { create: { payload: { kind: 'signup' } } } } })
      const found = await client.account.findMany({ include: { events: true } })
      expect(found).toHaveLength(1)
      expect(found[0]).toMatchObject({ id: account.id, email: 'client@example.org', status: 'ACTIVE' })
      expect(found[0].events[0].payload).toEqual({ kind: 'signup' })
    } finally {
      await client.$disconnect()
    }
    expect(await query(url, 'select count(*)::int as n from audit.events')).toEqual([{ n: 1 }])
  })
})
