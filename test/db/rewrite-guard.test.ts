// The rewrite guard of deploy: a statement that rewrites or scans a large table under a lock that stops
// the services is refused (exit 2, one line per statement, nothing applied, the migration pending)
// unless the migration records an allowance (migrate allow) or the deploy names it (--allow-rewrite);
// on a small table, and in the forms PostgreSQL runs without a rewrite, it just runs.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, test } from 'vitest'
import { parseColumnType, typeChangeRewrites } from '../../src/migrate/types.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir, edit } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()

/** Large means above 64 kB here (ARTSTORE_REWRITE_THRESHOLD): 4 000 rows make `big` a few hundred kB, `small` stays at its empty pages. */
const THRESHOLD = '64kB'

const TABLES = (t: string) => `CREATE TABLE "${t}" (
  "id" INTEGER NOT NULL, "name" VARCHAR(20), "amount" NUMERIC(10,2), "code" CHAR(4), "at" TIMESTAMP(3), "note" TEXT, "ref" INTEGER, "flag" INTEGER,
  CONSTRAINT "${t}_pkey" PRIMARY KEY ("id"));`

/** A database with admin deployed and a migration that made `parent`, `big` and `small`; `big` filled. */
async function setup(name: string) {
  const url = await freshDatabase(`rewrite_guard_${name}`)
  const prismaDir = copyPrismaDir(`rewrite-guard-${name}`)
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir, ARTSTORE_REWRITE_THRESHOLD: THRESHOLD }
  const dirOf = (m: string) => path.join(prismaDir, 'admin', 'migrations', m)
  const write = (m: string, sql: string, down = '') => {
    fs.mkdirSync(dirOf(m), { recursive: true })
    fs.writeFileSync(path.join(dirOf(m), 'migration.sql'), sql)
    fs.writeFileSync(path.join(dirOf(m), 'down.sql'), down)
  }
  write(
    '20270101000000_tables',
    `CREATE TABLE "parent" ("id" INTEGER NOT NULL, CONSTRAINT "parent_pkey" PRIMARY KEY ("id"));\n${TABLES('big')}\n${TABLES('small')}\n`,
    'DROP TABLE "small";\nDROP TABLE "big";\nDROP TABLE "parent";\n',
  )
  const run = await runCli(['deploy', '--module', 'admin'], env)
  expect(run.exitCode, run.stderr + run.stdout).toBe(0)
  await query(url, 'insert into parent select generate_series(1, 10)')
  await query(
    url,
    `insert into big select i, 'n' || i, i, 'c', now(), repeat('x', 40), 1 + i % 10, 1 from generate_series(1, 4000) i; analyze big; insert into small values (1, 'a', 1, 'c', now(), 'x', 1, 1)`,
  )
  /** What the catalog says of a table: its file (a rewrite changes it), columns and constraints. */
  const shape = async (table: string) => ({
    file: (await query<{ f: string }>(url, `select relfilenode::text as f from pg_class where oid = $1::regclass`, [table]))[0].f,
    columns: await query(
      url,
      `select attname, format_type(atttypid, atttypmod) as type, attnotnull from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
      [table],
    ),
    constraints: await query(url, `select conname, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass order by conname`, [
      table,
    ]),
  })
  const rowsOf = (m: string) =>
    query<{ finished: boolean; failed: boolean }>(
      url,
      'select finished_at is not null as finished, logs is not null as failed from _prisma_migrations where migration_name = $1',
      [m],
    )
  return { url, env, write, dirOf, shape, rowsOf }
}

type Setup = Awaited<ReturnType<typeof setup>>

/** Each statement kind the guard names, on `big`: the migration, what it then leaves in the catalog, and words of its safe form. */
const KINDS = [
  {
    kind: 'type-change',
    sql: 'ALTER TABLE "big" ALTER COLUMN "amount" SET DATA TYPE NUMERIC(12,4);',
    statement: 'ALTER TABLE "big" ALTER COLUMN "amount" SET DATA TYPE NUMERIC(12,4)',
    safe: 'add a column of the new type, backfill it in batches',
    applied: async (s: Setup) => (await s.shape('big')).columns.some((c) => c.attname === 'amount' && c.type === 'numeric(12,4)'),
  },
  {
    kind: 'set-not-null',
    sql: 'ALTER TABLE "big" ALTER COLUMN "name" SET NOT NULL;',
    statement: 'ALTER TABLE "big" ALTER COLUMN "name" SET NOT NULL',
    safe: 'CHECK (<column> IS NOT NULL) NOT VALID',
    applied: async (s: Setup) => (await s.shape('big')).columns.some((c) => c.attname === 'name' && c.attnotnull),
  },
  {
    kind: 'volatile-default',
    sql: 'ALTER TABLE "big" ADD COLUMN "token" UUID NOT NULL DEFAULT gen_random_uuid();',
    statement: 'ALTER TABLE "big" ADD COLUMN "token" UUID NOT NULL DEFAULT gen_random_uuid()',
    safe: 'ADD COLUMN without the default, then SET DEFAULT',
    applied: async (s: Setup) => (await s.shape('big')).columns.some((c) => c.attname === 'token'),
  },
  {
    kind: 'foreign-key',
    sql: 'ALTER TABLE "big" ADD CONSTRAINT "big_ref_fkey" FOREIGN KEY ("ref") REFERENCES "parent"("id") ON DELETE SET NULL ON UPDATE CASCADE;',
    statement: 'ALTER TABLE "big" ADD CONSTRAINT "big_ref_fkey" FOREIGN KEY ("ref") REFERENCES "parent"("id") ON DELETE SET NULL ON UPDATE CASCADE',
    safe: 'NOT VALID, and VALIDATE CONSTRAINT in a later migration',
    applied: async (s: Setup) => (await s.shape('big')).constraints.some((c) => c.conname === 'big_ref_fkey'),
  },
  {
    kind: 'check',
    sql: 'ALTER TABLE "big" ADD CONSTRAINT "big_flag_check" CHECK ("flag" >= 0);',
    statement: 'ALTER TABLE "big" ADD CONSTRAINT "big_flag_check" CHECK ("flag" >= 0)',
    safe: 'NOT VALID, and VALIDATE CONSTRAINT in a later migration',
    applied: async (s: Setup) => (await s.shape('big')).constraints.some((c) => c.conname === 'big_flag_check'),
  },
  {
    kind: 'validate-same-transaction',
    sql: 'ALTER TABLE "big" ADD CONSTRAINT "big_ref2_fkey" FOREIGN KEY ("ref") REFERENCES "parent"("id") NOT VALID;\nALTER TABLE "big" VALIDATE CONSTRAINT "big_ref2_fkey";',
    statement: 'ALTER TABLE "big" VALIDATE CONSTRAINT "big_ref2_fkey"',
    safe: 'VALIDATE CONSTRAINT in a later migration',
    applied: async (s: Setup) => (await s.shape('big')).constraints.some((c) => c.conname === 'big_ref2_fkey' && !/NOT VALID/.test(String(c.def))),
  },
] as const

describe('on a table above the threshold, each statement kind: refused, then allowed by the recorded allowance and applied', () => {
  let s: Setup
  beforeAll(async () => {
    s = await setup('kinds')
  }, 180_000)

  KINDS.forEach((k, i) => {
    test(
      k.kind,
      async () => {
        const m = `2027010200000${i}_${k.kind.replace(/-/g, '_')}`
        s.write(m, `${k.sql}\n`)
        const before = await s.shape('big')
        const refused = await runCli(['deploy', '--module', 'admin'], s.env)
        expect(refused.exitCode, refused.stderr + refused.stdout).toBe(2)
        const line = refused.stdout.split('\n').find((l) => l.includes(`${m} (line `))
        expect(line, refused.stdout).toBeDefined()
        expect(line).toMatch(/"big" is \d+ kB \(about 4000 rows\), above the rewrite threshold of 64 kB/)
        expect(line).toContain(k.statement)
        expect(line).toContain(`safe form: `)
        expect(line).toContain(k.safe)
        expect(line).toContain(`npx artstore-db migrate allow ${m} --module admin --reason "<why>"`)
        expect(line).toContain(`--allow-rewrite ${m}`)
        expect(refused.stdout).toContain(`nothing was applied; ${m} stays pending`)
        // Nothing applied, no history row (not failed), the catalog of big as it was.
        expect(await s.rowsOf(m)).toEqual([])
        expect(await s.shape('big')).toEqual(before)
        const status = JSON.parse((await runCli(['status', '--module', 'admin', '--json'], s.env)).stdout)
        expect(status[0].pending).toEqual([m])

        const allow = await runCli(['migrate', 'allow', m, '--module', 'admin', '--reason', 'maintenance window, services stopped'], s.env)
        expect(allow.exitCode, allow.stderr + allow.stdout).toBe(0)
        const header = fs.readFileSync(path.join(s.dirOf(m), 'migration.sql'), 'utf8')
        expect(header).toContain('-- Dangerous steps allowed: maintenance window, services stopped')
        expect(header).toContain(`--   rewrite: "big": ${k.statement}`)

        const applied = await runCli(['deploy', '--module', 'admin'], s.env)
        expect(applied.exitCode, applied.stderr + applied.stdout).toBe(0)
        expect(applied.stdout).toContain(`allowed rewrite (the migration's recorded allowance): ${m}: "big"`)
        expect(await s.rowsOf(m)).toEqual([{ finished: true, failed: false }])
        expect(await k.applied(s)).toBe(true)
        // migrate check accepts the recorded rewrite as found (not stale).
        const check = await runCli(['migrate', 'check', '--module', 'admin'], s.env)
        expect(check.stdout + check.stderr).not.toMatch(new RegExp(`${m}: its allowance records other`))
      },
      180_000,
    )
  })
})

describe('the override of one deploy, and what is not refused', () => {
  test('--allow-rewrite <migration> runs it once, without changing migration.sql; an unknown name is refused (exit 2) before anything', async () => {
    const s = await setup('option')
    const m = '20270102000000_widen_id'
    s.write(m, 'ALTER TABLE "big" ALTER COLUMN "id" SET DATA TYPE BIGINT;\n')
    const text = fs.readFileSync(path.join(s.dirOf(m), 'migration.sql'), 'utf8')
    const wrong = await runCli(['deploy', '--module', 'admin', '--allow-rewrite', '20270102000000_nope'], s.env)
    expect(wrong.exitCode).toBe(2)
    expect(wrong.stderr).toContain('--allow-rewrite 20270102000000_nope: no later migration folder of admin has that name')
    const dry = await runCli(['deploy', '--module', 'admin', '--dry-run', '--json'], s.env)
    expect(dry.exitCode).toBe(2)
    expect(JSON.parse(dry.stdout)[0]).toMatchObject({ status: 'refused', refused: [{ migration: m, kind: 'type-change', table: '"big"' }] })
    const run = await runCli(['deploy', '--module', 'admin', '--allow-rewrite', m, '--json'], s.env)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)[0]).toMatchObject({ status: 'applied', migrations: [m], allowedRewrites: [{ migration: m, allowedBy: 'option' }] })
    expect(fs.readFileSync(path.join(s.dirOf(m), 'migration.sql'), 'utf8')).toBe(text)
    expect((await s.shape('big')).columns.find((c) => c.attname === 'id')?.type).toBe('bigint')
  }, 180_000)

  test('below the threshold every kind is applied; above it, the forms PostgreSQL runs without a rewrite or a locked scan are applied too', async () => {
    const s = await setup('small')
    const small = '20270102000000_small_all'
    s.write(small, KINDS.map((k) => k.sql.replace(/"big"/g, '"small"').replace(/"big_/g, '"small_')).join('\n') + '\n')
    const safe = '20270102000001_big_safe'
    s.write(
      safe,
      [
        'ALTER TABLE "big" ALTER COLUMN "name" SET DATA TYPE VARCHAR(40);',
        'ALTER TABLE "big" ALTER COLUMN "amount" SET DATA TYPE NUMERIC(14,2);',
        'ALTER TABLE "big" ALTER COLUMN "at" SET DATA TYPE TIMESTAMP(6);',
        'ALTER TABLE "big" ALTER COLUMN "note" SET DATA TYPE VARCHAR;',
        'ALTER TABLE "big" ADD COLUMN "seen_at" TIMESTAMPTZ NOT NULL DEFAULT now(), ADD COLUMN "kind" TEXT NOT NULL DEFAULT \'a\';',
        'ALTER TABLE "big" ADD CONSTRAINT "big_ref_fkey" FOREIGN KEY ("ref") REFERENCES "parent"("id") NOT VALID;',
        'ALTER TABLE "big" ADD CONSTRAINT "big_code_not_null" CHECK ("code" IS NOT NULL) NOT VALID;',
      ].join('\n') + '\n',
    )
    const validate = '20270102000002_big_validate'
    s.write(
      validate,
      [
        'ALTER TABLE "big" VALIDATE CONSTRAINT "big_ref_fkey";',
        'ALTER TABLE "big" VALIDATE CONSTRAINT "big_code_not_null";',
        'ALTER TABLE "big" ALTER COLUMN "code" SET NOT NULL;',
        'ALTER TABLE "big" DROP CONSTRAINT "big_code_not_null";',
      ].join('\n') + '\n',
    )
    const before = (await s.shape('big')).file
    // The threshold given as an option: with one rewrite of big among them, a dry run names that one alone.
    const { ARTSTORE_REWRITE_THRESHOLD: _variable, ...env } = s.env
    const rewrite = '20270102000003_big_rewrite'
    s.write(rewrite, 'ALTER TABLE "big" ALTER COLUMN "flag" SET DATA TYPE BIGINT;\n')
    const dry = await runCli(['deploy', '--module', 'admin', '--dry-run', '--rewrite-threshold', '64kB', '--json'], env)
    expect(dry.exitCode, dry.stderr).toBe(2)
    expect(JSON.parse(dry.stdout)[0].refused.map((r: { migration: string; statement: string }) => `${r.migration}: ${r.statement}`)).toEqual([
      `${rewrite}: ALTER TABLE "big" ALTER COLUMN "flag" SET DATA TYPE BIGINT`,
    ])
    fs.rmSync(s.dirOf(rewrite), { recursive: true })
    const run = await runCli(['deploy', '--module', 'admin', '--rewrite-threshold', '64kB', '--json'], env)
    expect(run.exitCode, run.stderr + run.stdout).toBe(0)
    expect(JSON.parse(run.stdout)[0]).toMatchObject({ status: 'applied', migrations: [small, safe, validate] })
    expect(JSON.parse(run.stdout)[0].allowedRewrites).toBeUndefined()
    // No rewrite indeed: big keeps its file.
    expect((await s.shape('big')).file).toBe(before)
    expect((await s.shape('big')).columns.find((c) => c.attname === 'code')?.attnotnull).toBe(true)
  }, 180_000)
})

describe('the type changes PostgreSQL makes without a rewrite are the ones the guard lets through', () => {
  const pairs: [string, string][] = [
    ['varchar(20)', 'varchar(40)'],
    ['varchar(20)', 'varchar(10)'],
    ['varchar(20)', 'varchar'],
    ['varchar(20)', 'text'],
    ['varchar', 'varchar(20)'],
    ['text', 'varchar'],
    ['text', 'varchar(20)'],
    ['char(4)', 'char(8)'],
    ['char(4)', 'text'],
    ['numeric(10,2)', 'numeric(12,2)'],
    ['numeric(10,2)', 'numeric(12,4)'],
    ['numeric(10,2)', 'numeric(8,2)'],
    ['numeric(10,2)', 'numeric'],
    ['numeric', 'numeric(10,2)'],
    ['integer', 'bigint'],
    ['bigint', 'integer'],
    ['timestamp(3)', 'timestamp(6)'],
    ['timestamp(3)', 'timestamp'],
    ['timestamp', 'timestamp(3)'],
    ['timestamp(6)', 'timestamp(3)'],
    ['time(2)', 'time(4)'],
    ['interval(2)', 'interval(4)'],
    ['bit varying(4)', 'bit varying(8)'],
    ['bit(4)', 'bit(8)'],
    ['cidr', 'inet'],
    ['varchar(20)[]', 'varchar(40)[]'],
    ['text', 'jsonb'],
  ]
  test('each pair as PostgreSQL does it: the table file changes exactly when the guard says it rewrites', async () => {
    const url = await freshDatabase('rewrite_guard_types')
    const disagree: string[] = []
    for (const [i, [from, to]] of pairs.entries()) {
      const using = to === 'jsonb' ? ` using to_jsonb(c)` : ''
      await query(url, `create table t${i} (c ${from}); insert into t${i} values (null)`)
      const before = (await query<{ f: string }>(url, `select relfilenode::text as f from pg_class where relname = $1`, [`t${i}`]))[0].f
      await query(url, `alter table t${i} alter column c type ${to}${using}`)
      const after = (await query<{ f: string }>(url, `select relfilenode::text as f from pg_class where relname = $1`, [`t${i}`]))[0].f
      const guard = using ? true : typeChangeRewrites(parseColumnType(from), parseColumnType(to))
      if (guard !== (before !== after))
        disagree.push(`${from} → ${to}: PostgreSQL ${before !== after ? 'rewrote' : 'did not rewrite'}, the guard says ${guard}`)
    }
    expect(disagree).toEqual([])
  }, 120_000)
})

describe('migrate new writes the safe forms on existing tables (by default; --no-safe-forms for the plain ones)', () => {
  test('a new FK, an extras CHECK and a SET NOT NULL: added NOT VALID (the NOT NULL as a check), validated in a following migration; migrate check green; deploy passes the guard with every table large', async () => {
    const url = await freshDatabase('rewrite_guard_new')
    const prismaDir = copyPrismaDir('rewrite-guard-new', { at: 'baseline' })
    const env = { ADMIN_DATABASE_URL: `${url}?schema=admin`, ARTSTORE_PRISMA_DIR: prismaDir }
    expect((await runCli(['deploy', '--module', 'admin'], env)).exitCode).toBe(0)
    await query(
      url,
      `insert into admin.storage_elements (name, mode, storage_type, base_path, api_url, api_key, status, used_bytes, file_count, is_replicated, replica_count)
       select 'se-' || g, 'RW', 'LOCAL', '/data/' || g, 'http://se' || g, 'k' || g, 'ONLINE', 0, 0, false, 1 from generate_series(1, 3) g`,
    )
    const schemaFile = path.join(prismaDir, 'admin', 'schema.prisma')
    edit(schemaFile, '  apiKey           String?       @map("api_key")', '  apiKey           String        @map("api_key")')
    edit(
      schemaFile,
      '/// A storage element registered with the admin module.',
      `/// An administrator of the admin UI.
model AdminUser {
  id        String     @id @db.Uuid
  username  String     @db.VarChar(100)
  auditLogs AuditLog[]

  @@map("admin_users")
}

/// A storage element registered with the admin module.`,
    )
    edit(
      schemaFile,
      '  @@index([createdAt], map: "ix_audit_logs_created_at")',
      `  adminUserId      String?         @map("admin_user_id") @db.Uuid
  adminUser        AdminUser?      @relation(fields: [adminUserId], references: [id], onDelete: SetNull, map: "audit_logs_admin_user_id_fkey")

  @@index([createdAt], map: "ix_audit_logs_created_at")`,
    )
    fs.writeFileSync(
      path.join(prismaDir, 'admin', 'sql', '20_checks.sql'),
      'ALTER TABLE "storage_elements" ADD CONSTRAINT "ck_storage_elements_replica_count" CHECK ("replica_count" >= 0);\n',
    )
    const newMigration = (...options: string[]) =>
      runCli(
        ['migrate', 'new', '--module', 'admin', '--name', 'actor_and_key', ...options, '--allow-dangerous', 'every element has its api key', '--json'],
        env,
      )
    // With --no-safe-forms: one migration, as Prisma writes it, whose three scans the lint names (deploy would weigh them).
    const plain = JSON.parse((await newMigration('--no-safe-forms', '--dry-run')).stdout)
    expect(plain).toMatchObject({ status: 'would-write', also: [] })
    expect(plain.up).not.toContain('NOT VALID')
    expect(plain.findings.filter((f: { rule: string }) => f.rule === 'rewrite').map((f: { message: string }) => f.message.split(': ')[1])).toEqual([
      expect.stringMatching(/^ALTER TABLE "storage_elements" ALTER COLUMN "api_key" SET NOT NULL/),
      expect.stringMatching(/^ALTER TABLE "audit_logs" ADD CONSTRAINT "audit_logs_admin_user_id_fkey" FOREIGN KEY/),
      expect.stringMatching(/^ALTER TABLE "storage_elements" ADD CONSTRAINT "ck_storage_elements_replica_count" CHECK/),
    ])
    // --safe-forms, the default spelt out, writes the same as no option at all.
    const explicit = JSON.parse((await newMigration('--safe-forms', '--dry-run')).stdout)
    const run = await newMigration()
    expect(run.exitCode, run.stderr + run.stdout).toBe(0)
    const r = JSON.parse(run.stdout)
    expect(r.status).toBe('written')
    expect(r.migration).toMatch(/^\d{14}_actor_and_key$/)
    expect(r.also.map((m: { migration: string }) => m.migration)).toEqual([expect.stringMatching(/^\d{14}_actor_and_key_validate$/)])
    const [validate] = r.also
    const undated = (m: { up: string }) => m.up.replace(/\d{14}/g, '<time>')
    expect([explicit, ...explicit.also].map(undated)).toEqual([r, validate].map(undated))
    expect(r.up).toMatch(
      /ADD CONSTRAINT "audit_logs_admin_user_id_fkey" FOREIGN KEY \("admin_user_id"\) REFERENCES "admin_users"\("id"\) ON DELETE SET NULL ON UPDATE CASCADE NOT VALID;/,
    )
    expect(r.up).toContain('ALTER TABLE "storage_elements" ADD CONSTRAINT "storage_elements_api_key_not_null_check" CHECK ("api_key" IS NOT NULL) NOT VALID;')
    expect(r.up).toMatch(/ADD CONSTRAINT "ck_storage_elements_replica_count" CHECK \(.*replica_count.* >= 0\)\)? NOT VALID;/)
    expect(r.up).not.toContain('SET NOT NULL')
    expect(validate.up).toContain('ALTER TABLE "audit_logs" VALIDATE CONSTRAINT "audit_logs_admin_user_id_fkey";')
    expect(validate.up).toContain('ALTER TABLE "storage_elements" VALIDATE CONSTRAINT "ck_storage_elements_replica_count";')
    expect(validate.up).toMatch(
      /VALIDATE CONSTRAINT "storage_elements_api_key_not_null_check";\nALTER TABLE "storage_elements" ALTER COLUMN "api_key" SET NOT NULL;\nALTER TABLE "storage_elements" DROP CONSTRAINT "storage_elements_api_key_not_null_check";/,
    )
    // The dangerous step (NOT NULL over existing rows) is allowed where it now is, and validate runs in a transaction.
    expect(validate.up).toContain('-- Dangerous steps allowed: every element has its api key')
    expect(validate.up).not.toContain('no-transaction')
    expect(r.findings.filter((f: { rule: string }) => f.rule === 'rewrite')).toEqual([])

    const check = await runCli(['migrate', 'check', '--module', 'admin'], env)
    expect(check.exitCode, check.stdout + check.stderr).toBe(0)
    // Every existing table counts as large: the safe forms pass the guard, and leave the constraints valid and the column NOT NULL.
    const deployed = await runCli(['deploy', '--module', 'admin', '--json'], { ...env, ARTSTORE_REWRITE_THRESHOLD: '0' })
    expect(deployed.exitCode, deployed.stdout + deployed.stderr).toBe(0)
    expect(JSON.parse(deployed.stdout)[0]).toMatchObject({ status: 'applied', migrations: [r.migration, validate.migration] })
    const constraints = await query<{ conname: string; convalidated: boolean }>(
      url,
      `select conname, convalidated from pg_constraint where conname in ('audit_logs_admin_user_id_fkey', 'ck_storage_elements_replica_count', 'storage_elements_api_key_not_null_check') order by 1`,
    )
    expect(constraints).toEqual([
      { conname: 'audit_logs_admin_user_id_fkey', convalidated: true },
      { conname: 'ck_storage_elements_replica_count', convalidated: true },
    ])
    const [col] = await query<{ notnull: boolean }>(
      url,
      `select attnotnull as notnull from pg_attribute where attrelid = 'admin.storage_elements'::regclass and attname = 'api_key'`,
    )
    expect(col.notnull).toBe(true)
    const verified = await runCli(['verify', '--module', 'admin'], env)
    expect(verified.exitCode, verified.stdout).toBe(0)
  }, 300_000)
})
