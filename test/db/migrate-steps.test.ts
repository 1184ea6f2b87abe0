// migrate new and migrate check on what a schema edit can make: drops of any column type, expressions
// PostgreSQL stores in its own spelling, enum labels reordered or removed, hand-written and data-only
// steps, allowances held to their findings, and folder order. Each test edits a scratch copy of the
// module folders of its own (the committed schemas stay as they are).
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { deploy } from '../../src/deploy/deploy.ts'
import { migrateCheck } from '../../src/migrate/check.ts'
import { migrateNew } from '../../src/migrate/new.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { verify } from '../../src/verify/verify.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir, edit } from '../helpers/prisma-copy.ts'

let url: string
beforeAll(async () => {
  url = await freshDatabase('migrate_steps')
})
afterAll(async () => {
  await dropDatabase('migrate_steps')
})

/** Why migrate new refused, for the assertion's message. */
const why = (r: { problems?: string[] }) => (r.problems ?? []).join('\n')

/** A scratch copy of the module folders and what the commands need to use it. */
function project(name: string) {
  const prismaDir = copyPrismaDir(`migrate-steps-${name}`)
  const env = { DATABASE_URL: url }
  return {
    prismaDir,
    opts: <T extends object>(extra: T) => ({ env, prismaDir, ...extra }),
    cliEnv: { ...env, ARTSTORE_PRISMA_DIR: prismaDir },
    schema: path.join(prismaDir, 'admin', 'schema.prisma'),
    migrations: () =>
      fs
        .readdirSync(path.join(prismaDir, 'admin', 'migrations'))
        .filter((f) => !f.endsWith('.toml'))
        .sort(),
    folder: (m: string) => path.join(prismaDir, 'admin', 'migrations', m),
  }
}

describe('dropping columns and tables of any type', () => {
  test('a timestamptz column: generated, with a down.sql that gives it back as the history built it; migrate check accepts it', async () => {
    const p = project('timestamptz')
    edit(p.schema, /\n {2}lastLogin +DateTime\? +@map\("last_login"\) @db\.Timestamptz/, '')
    const r = await migrateNew(p.opts({ module: 'admin', name: 'drop_last_login', allowDangerous: 'last_login is kept by the identity service now' }))
    expect(r.status, why(r)).toBe('written')
    expect(r.up).toContain('DROP COLUMN "last_login"')
    expect(r.down).toMatch(/ADD COLUMN\s+"last_login" TIMESTAMPTZ;/)
    expect(r.down).not.toContain('TIMESTAMPTZ(6)')
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.problems).toEqual([])
  })
})

describe("an expression PostgreSQL stores in its own spelling: a partial index's predicate on an enum", () => {
  test('migrate new refuses, printing the stored form (and, with --dry-run, the SQL); with that form it writes a migration migrate check accepts', async () => {
    const p = project('predicate')
    const index = (predicate: string) => `  @@index([role], map: "ix_users_live_role", where: raw(${JSON.stringify(predicate)}))\n  @@map("users")`
    edit(p.schema, '  @@map("users")', index("status IN ('ACTIVE','LOCKED')"))
    const stored = "status = ANY (ARRAY['ACTIVE'::user_status_enum, 'LOCKED'::user_status_enum])"
    const refused = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'live_role', '--dry-run'], p.cliEnv)
    expect(refused.exitCode, refused.stderr).toBe(1)
    expect(refused.stdout).toContain('nothing written')
    expect(refused.stdout).toContain(`PostgreSQL stores its predicate as ${stored}: write where: raw(${JSON.stringify(stored)}) in schema.prisma`)
    expect(refused.stdout).toContain(`CREATE INDEX "ix_users_live_role" ON "users"("role") WHERE (status IN ('ACTIVE','LOCKED'));`)
    const plain = await migrateNew(p.opts({ module: 'admin', name: 'live_role' }))
    expect(plain.status).toBe('refused')
    expect(p.migrations()).toEqual(['0_baseline'])

    edit(p.schema, index("status IN ('ACTIVE','LOCKED')"), index(stored))
    const r = await migrateNew(p.opts({ module: 'admin', name: 'live_role' }))
    expect(r.status, why(r)).toBe('written')
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.problems).toEqual([])
  })
})

describe('enum labels', () => {
  test('reordered: migrate new writes the recreation (no BEGIN/COMMIT), migrate check accepts it', async () => {
    const p = project('enum-order')
    edit(p.schema, '  ADMIN\n  OPERATOR\n  USER\n', '  USER\n  OPERATOR\n  ADMIN\n')
    const r = await migrateNew(p.opts({ module: 'admin', name: 'role_order' }))
    expect(r.status, why(r)).toBe('written')
    expect(r.up).toContain(`CREATE TYPE "user_role_enum" AS ENUM ('USER', 'OPERATOR', 'ADMIN');`)
    expect(r.down).toContain(`CREATE TYPE "user_role_enum" AS ENUM ('ADMIN', 'OPERATOR', 'USER');`)
    expect(r.findings.map((f) => f.rule)).toContain('enum-order')
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.problems).toEqual([])
  })

  test("a label removed (and so added back in down.sql): Prisma's recreation without its BEGIN/COMMIT, refused as dangerous until allowed", async () => {
    const p = project('enum-remove')
    edit(p.schema, '  ADMIN\n  OPERATOR\n  USER\n', '  ADMIN\n  USER\n')
    const refused = await migrateNew(p.opts({ module: 'admin', name: 'no_operator' }))
    expect(refused.status).toBe('refused')
    expect(refused.findings.filter((f) => f.level === 'error').map((f) => f.message)).toContain(
      "enum user_role_enum: removes label(s) 'OPERATOR': a row holding one fails the migration, and clients that use it break",
    )
    const r = await migrateNew(p.opts({ module: 'admin', name: 'no_operator', allowDangerous: 'no operator is left' }))
    expect(r.status, why(r)).toBe('written')
    expect(r.up).toContain(`CREATE TYPE "user_role_enum_new" AS ENUM ('ADMIN', 'USER');`)
    for (const script of [r.up!, r.down!]) expect(script).not.toMatch(/^\s*(BEGIN|COMMIT)\s*;/im)
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.problems).toEqual([])
  })
})

describe('hand-written steps', () => {
  /** A migration folder written by hand, after the last one. */
  const handWritten = (p: ReturnType<typeof project>, name: string, up: string, down: string) => {
    fs.mkdirSync(p.folder(name))
    fs.writeFileSync(path.join(p.folder(name), 'migration.sql'), up)
    fs.writeFileSync(path.join(p.folder(name), 'down.sql'), down)
  }

  test('SET NOT NULL pasted under a generated -- CreateIndex header is refused by migrate check, as migrate new refuses it', async () => {
    const p = project('set-not-null')
    edit(p.schema, /firstName +String\? +@map\("first_name"\)/, 'firstName String @map("first_name")')
    const generated = await migrateNew(p.opts({ module: 'admin', name: 'first_name_required', dryRun: true }))
    expect(generated.status).toBe('refused')
    handWritten(
      p,
      '20261201000000_first_name_required',
      '-- CreateIndex\nALTER TABLE "users" ALTER COLUMN "first_name" SET NOT NULL;\n',
      'ALTER TABLE "users" ALTER COLUMN "first_name" DROP NOT NULL;\n',
    )
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.ok).toBe(false)
    expect(checked.problems).toEqual([
      expect.stringMatching(
        /^20261201000000_first_name_required has dangerous steps and no recorded allowance \(data-loss: users: NOT NULL on existing column first_name: fails if a row holds NULL there \(backfill first\)\): make it safe, or record why with npx artstore-db migrate allow 20261201000000_first_name_required --module admin --reason "<why>"$/,
      ),
    ])
  })

  test('migrate allow records the findings; migrate check fails when they change, until they are recorded again', async () => {
    const p = project('allow')
    edit(p.schema, /\n {2}lockoutUntil +DateTime\? +@map\("lockout_until"\) @db\.Timestamptz/, '')
    const r = await migrateNew(p.opts({ module: 'admin', name: 'drop_lockout', allowDangerous: 'lockouts are the identity service’s' }))
    expect(r.status, why(r)).toBe('written')
    const file = path.join(p.folder(r.migration!), 'migration.sql')
    expect((await migrateCheck(p.opts({ module: 'admin' })))[0].problems).toEqual([])

    // A second drop, added by hand to the same migration (and its schema and down.sql).
    edit(p.schema, /\n {2}lastLogin +DateTime\? +@map\("last_login"\) @db\.Timestamptz/, '')
    fs.appendFileSync(file, '\nALTER TABLE "users" DROP COLUMN "last_login";\n')
    fs.appendFileSync(path.join(p.folder(r.migration!), 'down.sql'), '\nALTER TABLE "users" ADD COLUMN "last_login" TIMESTAMPTZ;\n')
    const [stale] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(stale.ok).toBe(false)
    expect(stale.problems).toEqual([
      `${r.migration}: its allowance records other dangerous steps than it has (not allowed: data-loss: users: drops column last_login and its data; squawk ban-drop-column: Dropping a column may break existing clients.): review them, then record them again with npx artstore-db migrate allow ${r.migration} --module admin --reason "<why>"`,
    ])

    const allowed = await runCli(['migrate', 'allow', r.migration!, '--module', 'admin', '--reason', 'both belong to the identity service'], p.cliEnv)
    expect(allowed.exitCode, allowed.stderr).toBe(0)
    const header = fs.readFileSync(file, 'utf8').split('\n\n')[0]
    expect(header.split('\n').slice(1)).toEqual([
      '-- Dangerous steps allowed: both belong to the identity service',
      '--   data-loss: users: drops column lockout_until and its data',
      '--   data-loss: users: drops column last_login and its data',
      '--   squawk ban-drop-column: Dropping a column may break existing clients.',
      '--   squawk ban-drop-column: Dropping a column may break existing clients.',
    ])
    const check = await runCli(['migrate', 'check', '--module', 'admin'], p.cliEnv)
    expect(check.exitCode, check.stdout).toBe(0)
  })

  test('migrate new --empty writes a data migration; a COMMIT in a DO block is refused without the no-transaction header, accepted with it', async () => {
    const p = project('empty')
    const run = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'backfill', '--empty'], p.cliEnv)
    expect(run.exitCode, run.stderr).toBe(0)
    const [, m] = p.migrations()
    expect(m).toMatch(/^\d{14}_backfill$/)
    const up = fs.readFileSync(path.join(p.folder(m), 'migration.sql'), 'utf8')
    expect(up).toMatch(/^-- \d{14}_backfill: a data migration of the admin module/)
    expect(up).toContain('Write its SQL below this header')
    expect(fs.readFileSync(path.join(p.folder(m), 'down.sql'), 'utf8')).toContain('write below the SQL that undoes it')
    expect((await migrateCheck(p.opts({ module: 'admin' })))[0].problems).toEqual([])

    const batches = `DO $$\nBEGIN\n  UPDATE "users" SET "failed_login_attempts" = 0 WHERE "failed_login_attempts" IS NULL;\n  COMMIT;\nEND\n$$;\n`
    fs.writeFileSync(path.join(p.folder(m), 'migration.sql'), up + batches)
    const [refused] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(refused.problems).toEqual([expect.stringMatching(new RegExp(`^${m}: transaction-control \\(line \\d+\\): a DO block with COMMIT or ROLLBACK ends`))])
    fs.writeFileSync(path.join(p.folder(m), 'migration.sql'), up.replace('\n\n', '\n-- artstore: no-transaction\n\n') + batches)
    expect((await migrateCheck(p.opts({ module: 'admin' })))[0].problems).toEqual([])
  })
})

describe('outside a transaction', () => {
  test('migrate new --concurrently declares the no-transaction header in the index migration it writes; migrate check accepts it without a warning', async () => {
    const p = project('concurrently')
    edit(p.schema, '  @@map("users")', '  @@index([failedLoginAttempts], map: "ix_users_failed_login_attempts")\n  @@map("users")')
    const r = await migrateNew(p.opts({ module: 'admin', name: 'failed_logins', concurrently: true }))
    expect(r.status, why(r)).toBe('written')
    expect(r.up!.split('\n').slice(0, 4)).toEqual([
      expect.stringMatching(/^-- \d{14}_failed_logins_ix_users_failed_login_attempts: /),
      '-- artstore: no-transaction',
      '',
      '-- CreateIndex',
    ])
    expect(r.up).toContain('CREATE INDEX CONCURRENTLY "ix_users_failed_login_attempts" ON "users"("failed_login_attempts");')
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.problems).toEqual([])
    expect(checked.warnings.filter((w) => w.includes('no-transaction'))).toEqual([])
  })
})

describe('folder order', () => {
  test('a new migration is named after the last folder, whatever its name', async () => {
    const p = project('order-name')
    fs.mkdirSync(p.folder('20991231_hand'))
    fs.writeFileSync(
      path.join(p.folder('20991231_hand'), 'migration.sql'),
      'CREATE TABLE "hand" (\n    "id" INTEGER NOT NULL,\n\n    CONSTRAINT "hand_pkey" PRIMARY KEY ("id")\n);\n',
    )
    fs.writeFileSync(path.join(p.folder('20991231_hand'), 'down.sql'), 'DROP TABLE "hand";\n')
    fs.appendFileSync(p.schema, '\nmodel Hand {\n  id   Int     @id\n  note String?\n\n  @@map("hand")\n}\n')
    const r = await migrateNew(p.opts({ module: 'admin', name: 'hand_note' }))
    expect(r.status, why(r)).toBe('written')
    // Prisma applies by name: the new folder comes after the hand-named one, on every database.
    expect(r.migration).toBe('20991232000000_hand_note')
    expect(p.migrations()).toEqual(['0_baseline', '20991231_hand', r.migration])
  })

  test('migrate check refuses a folder that sorts before one applied on the database and is not applied there', async () => {
    const p = project('order-check')
    fs.appendFileSync(p.schema, '\nmodel Later {\n  id Int @id\n\n  @@map("later")\n}\n')
    const later = await migrateNew(p.opts({ module: 'admin', name: 'later' }))
    expect(later.status, why(later)).toBe('written')
    const [deployed] = await deploy(p.opts({ module: 'admin' }))
    expect(deployed.status, deployed.detail).toBe('applied')
    fs.mkdirSync(p.folder('20000101000000_early'))
    fs.writeFileSync(path.join(p.folder('20000101000000_early'), 'migration.sql'), 'SELECT 1;\n')
    fs.writeFileSync(path.join(p.folder('20000101000000_early'), 'down.sql'), 'SELECT 1;\n')
    const [checked] = await migrateCheck(p.opts({ module: 'admin' }))
    expect(checked.ok).toBe(false)
    expect(checked.problems).toEqual([
      expect.stringMatching(new RegExp(`^20000101000000_early sorts before ${later.migration}, which is applied on .*, and is not applied there`)),
    ])
  })
})

describe('the upstream admin change, with data: users → admin_users by expand → backfill → contract (README "Data migrations")', () => {
  test('deployed over 5 users and 577 audit rows (the expand as two migrations, its FK validated apart), every user and link carried over; the contract rolled back gives them back; deployed again; the whole change rolled back and deployed again', async () => {
    const p = project('upstream')
    const db = await freshDatabase('migrate_steps_upstream')
    try {
      const opts = <T extends object>(extra: T) => ({ env: { DATABASE_URL: db }, prismaDir: p.prismaDir, module: 'admin', ...extra })
      expect((await deploy(opts({})))[0].status).toBe('applied')
      await query(
        db,
        `insert into admin.users (username, email, role, status, is_system, failed_login_attempts)
         select 'user' || g, 'user' || g || '@example.org', case when g = 1 then 'ADMIN' else 'USER' end::admin.user_role_enum, 'ACTIVE', false, 0
           from generate_series(1, 5) g`,
      )
      await query(
        db,
        `insert into admin.audit_logs (event_type, actor_type, action, success, hmac_signature, user_id)
         select 'login_success', 'user', 'login', true, repeat('a', 64), case when g % 4 = 0 then null else (select id from admin.users order by id offset g % 5 limit 1) end
           from generate_series(1, 577) g`,
      )
      const one = async (sql: string) => Object.values((await query(db, sql))[0])[0]
      const linked = Number(await one('select count(*) from admin.audit_logs where user_id is not null'))
      /** Each audit row with the name of its user, in order: what the links say, whichever table holds the users. */
      const linksVia = (join: string) =>
        one(`select md5(string_agg(a.id || ':' || coalesce(x.username, '-'), ',' order by a.id)) from admin.audit_logs a ${join}`)
      const linksBefore = await linksVia('left join admin.users x on x.id = a.user_id')
      const usersBefore = await one("select md5(string_agg(username, ',' order by username)) from admin.users")

      // 1. Expand: the new table and column, generated.
      edit(
        p.schema,
        '/// A storage element registered with the admin module.',
        `enum AdminRole {\n  super_admin\n  admin\n  readonly\n\n  @@map("admin_role")\n}\n\n/// An administrator of the admin UI.\nmodel AdminUser {\n  id        String     @id @db.Uuid\n  username  String     @unique(map: "uq_admin_users_username") @db.VarChar(100)\n  role      AdminRole  @default(readonly)\n  createdAt DateTime   @default(now()) @map("created_at") @db.Timestamptz\n  updatedAt DateTime   @default(now()) @updatedAt @map("updated_at") @db.Timestamptz\n  auditLogs AuditLog[]\n\n  @@map("admin_users")\n}\n\n/// A storage element registered with the admin module.`,
      )
      edit(
        p.schema,
        '  @@index([createdAt], map: "ix_audit_logs_created_at")',
        `  adminUserId      String?         @map("admin_user_id") @db.Uuid\n  adminUser        AdminUser?      @relation(fields: [adminUserId], references: [id], onDelete: SetNull, map: "audit_logs_admin_user_id_fkey")\n\n  @@index([createdAt], map: "ix_audit_logs_created_at")`,
      )
      const expand = await migrateNew(opts({ name: 'admin_users' }))
      expect(expand.status, why(expand)).toBe('written')
      // Two migrations: the FK on audit_logs (a table that exists) NOT VALID, then admin_users_validate validates it.
      expect(expand.up).toMatch(/ADD CONSTRAINT "audit_logs_admin_user_id_fkey" FOREIGN KEY[^;]* NOT VALID;/)
      expect(expand.also.map((m) => m.migration)).toEqual([expect.stringMatching(/^\d{14}_admin_users_validate$/)])
      const validate = expand.also[0]
      expect(validate.up).toContain('ALTER TABLE "audit_logs" VALIDATE CONSTRAINT "audit_logs_admin_user_id_fkey";')

      // 2. Backfill: a data migration, hand-written (the README's recipe).
      const backfill = await migrateNew(opts({ name: 'copy_users', empty: true }))
      expect(backfill.status).toBe('written')
      fs.appendFileSync(
        path.join(p.folder(backfill.migration!), 'migration.sql'),
        `INSERT INTO "admin_users" ("id", "username", "role", "created_at", "updated_at")
SELECT gen_random_uuid(), u."username",
       CASE u."role" WHEN 'ADMIN' THEN 'admin' ELSE 'readonly' END::"admin_role",
       u."created_at", u."updated_at"
  FROM "users" u;
UPDATE "audit_logs" a SET "admin_user_id" = au."id"
  FROM "users" u JOIN "admin_users" au ON au."username" = u."username"
 WHERE a."user_id" = u."id";
`,
      )
      fs.appendFileSync(path.join(p.folder(backfill.migration!), 'down.sql'), 'UPDATE "audit_logs" SET "admin_user_id" = NULL;\nDELETE FROM "admin_users";\n')
      expect((await migrateCheck(opts({})))[0].problems).toEqual([])
      const [expanded] = await deploy(opts({}))
      expect(expanded.migrations).toEqual([expand.migration, validate.migration, backfill.migration])
      const fk = `select convalidated from pg_constraint where conname = 'audit_logs_admin_user_id_fkey'`
      expect(await query(db, fk)).toEqual([{ convalidated: true }])
      expect(await one("select md5(string_agg(username, ',' order by username)) from admin.admin_users")).toBe(usersBefore)
      expect(Number(await one('select count(*) from admin.audit_logs where admin_user_id is not null'))).toBe(linked)
      expect(await linksVia('left join admin.admin_users x on x.id = a.admin_user_id')).toBe(linksBefore)

      // 3. Contract: users and user_id dropped, generated, allowed; its down.sql refills users from admin_users.
      edit(p.schema, /\/\/\/ [^\n]*\nmodel User \{[\s\S]*?\n\}\n/, '')
      edit(p.schema, / {2}\/\/\/ NULL for system events\.\n {2}userId +Int\? +@map\("user_id"\)\n/, '')
      edit(p.schema, / {2}user +User\? +@relation\(fields: \[userId\][^\n]*\n/, '')
      edit(p.schema, / {2}@@index\(\[userId\], map: "ix_audit_logs_user_id"\)\n/, '')
      edit(path.join(p.prismaDir, 'admin', 'sql', '10_unique_constraints.sql'), /^ALTER TABLE "users".*\n/gm, '')
      const refused = await migrateNew(opts({ name: 'drop_users' }))
      expect(refused.status).toBe('refused')
      expect(refused.findings.filter((f) => f.level === 'error').map((f) => f.message)).toEqual(
        expect.arrayContaining(['users: drops the table, with its rows', 'audit_logs: drops column user_id and its data']),
      )
      const contract = await migrateNew(opts({ name: 'drop_users', allowDangerous: 'users replaced by admin_users (copied in copy_users)' }))
      expect(contract.status, why(contract)).toBe('written')
      fs.appendFileSync(
        path.join(p.folder(contract.migration!), 'down.sql'),
        `
INSERT INTO "users" ("username", "email", "role", "status", "is_system", "failed_login_attempts", "created_at", "updated_at")
SELECT au."username", au."username" || '@example.org', CASE au."role" WHEN 'admin' THEN 'ADMIN' ELSE 'USER' END::"user_role_enum",
       'ACTIVE', false, 0, au."created_at", au."updated_at"
  FROM "admin_users" au;
UPDATE "audit_logs" a SET "user_id" = u."id"
  FROM "admin_users" au JOIN "users" u ON u."username" = au."username"
 WHERE a."admin_user_id" = au."id";
`,
      )
      expect((await migrateCheck(opts({})))[0].problems).toEqual([])
      const [contracted] = await deploy(opts({}))
      expect(contracted.migrations).toEqual([contract.migration])
      expect(await one(`select to_regclass('admin.users') is null`)).toBe(true)
      expect(await linksVia('left join admin.admin_users x on x.id = a.admin_user_id')).toBe(linksBefore)
      expect(Number(await one('select count(*) from admin.audit_logs'))).toBe(577)

      const back = await rollback(opts({ steps: 1, yes: true }))
      expect(back.migrations).toEqual([contract.migration])
      expect(await one("select md5(string_agg(username, ',' order by username)) from admin.users")).toBe(usersBefore)
      expect(await linksVia('left join admin.users x on x.id = a.user_id')).toBe(linksBefore)
      const [again] = await deploy(opts({}))
      expect(again.migrations).toEqual([contract.migration])
      expect(await linksVia('left join admin.admin_users x on x.id = a.admin_user_id')).toBe(linksBefore)
      expect((await verify(opts({})))[0].ok).toBe(true)

      // The whole change rolled back, the expand's two migrations with it: users and their links as before, no admin_users.
      const all = await rollback(opts({ steps: 4, yes: true }))
      expect(all.migrations).toEqual([contract.migration, backfill.migration, validate.migration, expand.migration])
      expect(await one(`select to_regclass('admin.admin_users') is null`)).toBe(true)
      expect(await one("select md5(string_agg(username, ',' order by username)) from admin.users")).toBe(usersBefore)
      expect(await linksVia('left join admin.users x on x.id = a.user_id')).toBe(linksBefore)
      expect(Number(await one('select count(*) from admin.audit_logs'))).toBe(577)
      const [redone] = await deploy(opts({}))
      expect(redone.migrations).toEqual([expand.migration, validate.migration, backfill.migration, contract.migration])
      expect(await linksVia('left join admin.admin_users x on x.id = a.admin_user_id')).toBe(linksBefore)
      expect((await verify(opts({})))[0].ok).toBe(true)
    } finally {
      await dropDatabase('migrate_steps_upstream')
    }
  })
})
