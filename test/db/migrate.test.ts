// The next migration, end to end, on scratch copies of the module folders (the committed schemas stay
// as they are): migrate new → deploy over rows → verify, status, migrate check → rollback --steps 1
// restores the catalog and keeps the rows → deploy again, for the changes the ArtStore services made
// after the reset; plus the lint's refusals, a fresh database taking the whole history, and the
// baseline frozen once later migrations exist.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { adopt } from '../../src/adopt/adopt.ts'
import { baseline } from '../../src/baseline/baseline.ts'
import { cycle } from '../../src/cycle/cycle.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { migrateCheck } from '../../src/migrate/check.ts'
import { catalogDifferences } from '../../src/migrate/generate.ts'
import { migrateNew } from '../../src/migrate/new.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { status } from '../../src/status/status.ts'
import { verify } from '../../src/verify/verify.ts'
import { failingChecks } from '../helpers/checks.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { loadLegacyFixture } from '../helpers/legacy.ts'
import { catalogOf, copyPrismaDir, edit, schemaDump } from '../helpers/prisma-copy.ts'

let url: string
let prismaDir: string
const env = () => ({ DATABASE_URL: url })
const opts = <T extends object>(extra: T) => ({ env: env(), prismaDir, ...extra })
const cliEnv = () => ({ ...env(), ARTSTORE_PRISMA_DIR: prismaDir })
const schemaFile = (m: string) => path.join(prismaDir, m, 'schema.prisma')
const migrationsOf = (m: string) =>
  fs
    .readdirSync(path.join(prismaDir, m, 'migrations'))
    .filter((f) => !f.endsWith('.toml'))
    .sort()
/** The single number a `select count(*) …` returns (a missing one fails the test, rather than compare NaN with NaN). */
const count = async (sql: string) => {
  const [row] = await query(url, sql)
  const n = Number(Object.values(row)[0])
  if (!Number.isInteger(n)) throw new Error(`not a count: ${sql}`)
  return n
}

beforeAll(async () => {
  url = await freshDatabase('migrate')
  prismaDir = copyPrismaDir('migrate', { at: 'baseline' })
  const deployed = await deploy(opts({}))
  expect(deployed.map((r) => r.status)).toEqual(['applied', 'applied', 'applied'])
  await deploy(opts({ module: 'storage-element', prefix: 'storage_elem_02' }))
})
afterAll(async () => {
  await dropDatabase('migrate')
})

/**
 * The contract every scenario shares: the new migrations (one, or a change and its `_validate`) deploy
 * over the rows, the checklist, status and migrate check are green, rollback --steps <as many> gives back
 * the catalog from before (pg_dump --schema-only equal where this machine's pg_dump fits the server) and
 * keeps every row, and deploy applies them again.
 */
async function deployCheckRollBackRedeploy(
  module: string,
  pgSchema: string,
  written: string | string[],
  rowCounts: string[],
  prefix?: string,
  droppedColumn = false,
) {
  const migrations = typeof written === 'string' ? [written] : written
  const migration = migrations.at(-1)!
  const target = { module, ...(prefix ? { prefix } : {}) }
  const catalogBefore = await catalogOf(url, pgSchema)
  const dumpBefore = await schemaDump(url, pgSchema)
  const rowsBefore = await Promise.all(rowCounts.map(count))

  const [applied] = await deploy(opts(target))
  expect(applied.status, applied.detail).toBe('applied')
  expect(applied.migrations).toEqual(migrations)
  const [checklist] = await verify(opts(target))
  expect(failingChecks(checklist)).toEqual([])
  const history = migrationsOf(module).filter((m) => m <= migration)
  expect(history.at(-1)).toBe(migration)
  expect(checklist.items.filter((i) => i.category === 'history').map((i) => i.name)).toEqual(history.map((m) => `${m} is applied with the committed checksum`))
  const [state] = await status(opts(target))
  expect(state.state).toBe('up-to-date')
  const [checked] = await migrateCheck(opts(target))
  expect(checked.problems).toEqual([])
  expect(checked.ok).toBe(true)
  expect(await Promise.all(rowCounts.map(count))).toEqual(rowsBefore)

  const back = await rollback(opts({ ...target, steps: migrations.length, yes: true }))
  expect(back.migrations).toEqual([...migrations].reverse())
  if (droppedColumn) {
    // A dropped column comes back (empty) at the end of its table: the same catalog object by object,
    // not the same column order, so no pg_dump equality.
    expect(catalogDifferences(catalogBefore, await catalogOf(url, pgSchema))).toEqual([])
  } else {
    expect(await catalogOf(url, pgSchema)).toEqual(catalogBefore)
    expect(await schemaDump(url, pgSchema)).toEqual(dumpBefore)
  }
  expect(await Promise.all(rowCounts.map(count))).toEqual(rowsBefore)
  expect((await status(opts(target)))[0].pending).toEqual(migrations)

  const [again] = await deploy(opts(target))
  expect(again.migrations).toEqual(migrations)
  expect((await verify(opts(target)))[0].ok).toBe(true)
}

describe("admin: admin users, storage-element priority, audit log actor (the services' changes after the reset)", () => {
  let first: string
  /** The migrations the change was written as: itself and its `_validate` (the new FK on audit_logs, validated apart). */
  let written: string[]

  test('migrate new writes only the change, with a down.sql, and lints it clean; the FK on audit_logs NOT VALID, validated in a _validate migration', async () => {
    await query(
      url,
      `insert into admin.storage_elements (name, mode, storage_type, base_path, api_url, status, used_bytes, file_count, is_replicated, replica_count)
                      select 'se-' || g, 'RW', 'LOCAL', '/data/' || g, 'http://se' || g, 'ONLINE', 0, 0, false, 1 from generate_series(1, 3) g`,
    )
    await query(
      url,
      `insert into admin.audit_logs (event_type, actor_type, action, success, hmac_signature)
                      select 'login_success', 'system', 'login', true, repeat('a', 64) from generate_series(1, 5)`,
    )
    edit(
      schemaFile('admin'),
      '/// A storage element registered with the admin module.',
      `enum AdminRole {
  super_admin
  admin
  readonly

  @@map("admin_role")
}

/// An administrator of the admin UI.
model AdminUser {
  id        String     @id @db.Uuid
  username  String     @unique(map: "uq_admin_users_username") @db.VarChar(100)
  role      AdminRole  @default(readonly)
  createdAt DateTime   @default(now()) @map("created_at") @db.Timestamptz
  updatedAt DateTime   @default(now()) @updatedAt @map("updated_at") @db.Timestamptz
  auditLogs AuditLog[]

  @@map("admin_users")
}

/// A storage element registered with the admin module.`,
    )
    edit(
      schemaFile('admin'),
      '  @@unique([name], map: "ix_storage_elements_name")',
      `  elementId        String?       @unique(map: "uq_storage_elements_element_id") @map("element_id") @db.VarChar(50)
  priority         Int           @default(100)

  @@unique([name], map: "ix_storage_elements_name")
  @@index([mode, priority], map: "idx_storage_mode_priority")`,
    )
    edit(
      schemaFile('admin'),
      '  @@index([createdAt], map: "ix_audit_logs_created_at")',
      `  adminUserId      String?         @map("admin_user_id") @db.Uuid
  adminUser        AdminUser?      @relation(fields: [adminUserId], references: [id], onDelete: SetNull, map: "audit_logs_admin_user_id_fkey")

  @@index([createdAt], map: "ix_audit_logs_created_at")`,
    )

    const dry = await migrateNew(opts({ module: 'admin', name: 'admin_users_and_priority', dryRun: true }))
    expect(dry.status).toBe('would-write')
    expect(migrationsOf('admin')).toEqual(['0_baseline'])
    // --no-safe-forms: Prisma's plain form, one migration, the FK added (and its rows scanned) under the lock.
    const plainRun = await runCli(
      ['migrate', 'new', '--module', 'admin', '--name', 'admin_users_and_priority', '--no-safe-forms', '--dry-run', '--json'],
      cliEnv(),
    )
    expect(plainRun.exitCode, plainRun.stderr).toBe(0)
    const plain = JSON.parse(plainRun.stdout)
    expect(plain).toMatchObject({ status: 'would-write', also: [] })
    expect(plain.up).toMatch(
      /ADD CONSTRAINT "audit_logs_admin_user_id_fkey" FOREIGN KEY \("admin_user_id"\) REFERENCES "admin_users"\("id"\) ON DELETE SET NULL ON UPDATE CASCADE;/,
    )
    expect(plain.up).not.toContain('NOT VALID')
    expect(migrationsOf('admin')).toEqual(['0_baseline'])

    const r = await migrateNew(opts({ module: 'admin', name: 'admin_users_and_priority' }))
    expect(r.status).toBe('written')
    first = r.migration!
    expect(first).toMatch(/^\d{14}_admin_users_and_priority$/)
    const validate = r.also[0]?.migration
    expect(r.also.map((m) => m.migration)).toEqual([expect.stringMatching(/^\d{14}_admin_users_and_priority_validate$/)])
    written = [first, validate]
    expect(migrationsOf('admin')).toEqual(['0_baseline', ...written])
    // The FK on audit_logs (a table that exists, millions of rows in production) is added NOT VALID, and validated next.
    expect(r.up).toMatch(
      /ADD CONSTRAINT "audit_logs_admin_user_id_fkey" FOREIGN KEY \("admin_user_id"\) REFERENCES "admin_users"\("id"\) ON DELETE SET NULL ON UPDATE CASCADE NOT VALID;/,
    )
    expect(r.also[0].up).toContain('ALTER TABLE "audit_logs" VALIDATE CONSTRAINT "audit_logs_admin_user_id_fkey";')
    expect(r.also[0].down).toContain('ALTER TABLE "audit_logs" DROP CONSTRAINT "audit_logs_admin_user_id_fkey";')
    expect(fs.readFileSync(path.join(prismaDir, 'admin', 'migrations', validate, 'migration.sql'), 'utf8')).toBe(r.also[0].up)
    expect(r.findings.filter((f) => f.rule === 'rewrite')).toEqual([])
    const up = fs.readFileSync(path.join(prismaDir, 'admin', 'migrations', first, 'migration.sql'), 'utf8')
    const down = fs.readFileSync(path.join(prismaDir, 'admin', 'migrations', first, 'down.sql'), 'utf8')
    expect(up).toBe(r.up)
    expect(down).toBe(r.down)
    expect(up).toContain(`CREATE TYPE "admin_role" AS ENUM ('super_admin', 'admin', 'readonly');`)
    expect(up).toContain('CREATE TABLE "admin_users"')
    expect(up).toMatch(/ADD COLUMN\s+"priority" INTEGER NOT NULL DEFAULT 100/)
    expect(up).toContain('CREATE INDEX "idx_storage_mode_priority" ON "storage_elements"("mode", "priority");')
    expect(up).toContain('ON DELETE SET NULL')
    // Only the change: nothing the history already creates (the partial index Prisma's own route
    // repeated, the unique constraints, the extras).
    expect(up).not.toContain('idx_user_ldap_lookup')
    expect(up).not.toContain('uq_username')
    expect(up).not.toContain('CREATE TABLE "users"')
    expect(down).toContain('DROP TABLE "admin_users";')
    expect(down).toContain('DROP TYPE "admin_role";')
    expect(r.findings.filter((f) => f.level === 'error')).toEqual([])
    // Squawk's advice on a live table is shown, never failing.
    expect(r.findings.map((f) => f.rule)).toContain('require-concurrent-index-creation')
  })

  test('deploy over rows → verify, status, migrate check → rollback --steps 1 restores the catalog and keeps the rows → deploy', async () => {
    await deployCheckRollBackRedeploy('admin', 'admin', written, ['select count(*) from admin.storage_elements', 'select count(*) from admin.audit_logs'])
    expect(await query(url, 'select distinct priority from admin.storage_elements')).toEqual([{ priority: 100 }])
    const fk = `select convalidated from pg_constraint where conname = 'audit_logs_admin_user_id_fkey'`
    expect(await query(url, fk)).toEqual([{ convalidated: true }])
    // The _validate step alone rolls back to the FK as the first step left it: there, NOT VALID.
    const back = await rollback(opts({ module: 'admin', steps: 1, yes: true }))
    expect(back.migrations).toEqual([written[1]])
    expect(await query(url, fk)).toEqual([{ convalidated: false }])
    expect((await deploy(opts({ module: 'admin' })))[0].migrations).toEqual([written[1]])
    expect(await query(url, fk)).toEqual([{ convalidated: true }])
  })

  // A rename (users → admin_users, user_id → admin_user_id) goes by expand → backfill → contract, with
  // every link carried over: migrate-steps.test.ts. What this one pins is the guard on a drop of data
  // meant to go: refused without a reason, written with one that records its findings.
  test('a later step that discards audit_logs.user_agent on purpose is refused without a reason (exit 1, nothing written), and written with one', async () => {
    edit(schemaFile('admin'), /\n {2}userAgent +String\? +@map\("user_agent"\)/, '')
    const refused = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'drop_audit_user_agent'], cliEnv())
    expect(refused.exitCode, refused.stderr).toBe(1)
    expect(refused.stdout).toMatch(/❌ data-loss \(line \d+\): audit_logs: drops column user_agent and its data/)
    expect(refused.stdout).toMatch(/❌ squawk ban-drop-column \(line \d+\)/)
    expect(refused.stdout).toContain('nothing written')
    expect(migrationsOf('admin')).toEqual(['0_baseline', ...written])

    const reason = 'the gateway log keeps the user agent of each request (request_id links them)'
    const allowed = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'drop_audit_user_agent', '--allow-dangerous', reason, '--json'], cliEnv())
    expect(allowed.exitCode, allowed.stderr).toBe(0)
    const r = JSON.parse(allowed.stdout)
    expect(r.status).toBe('written')
    expect(r.up).toContain(`-- Dangerous steps allowed: ${reason}\n--   data-loss: audit_logs: drops column user_agent and its data`)
    expect(r.up).toContain('DROP COLUMN "user_agent"')
    expect(r.down).toMatch(/ADD COLUMN\s+"user_agent" TEXT/)
    expect(migrationsOf('admin')).toEqual(['0_baseline', ...written, r.migration])

    const check = await runCli(['migrate', 'check', '--module', 'admin'], cliEnv())
    expect(check.exitCode, check.stdout + check.stderr).toBe(0)
    expect(check.stdout).toContain('✅ admin: 4 migration(s) check out')
    await deployCheckRollBackRedeploy(
      'admin',
      'admin',
      r.migration,
      ['select count(*) from admin.storage_elements', 'select count(*) from admin.audit_logs'],
      undefined,
      true,
    )
    expect(
      await count(`select count(*) from information_schema.columns where table_schema = 'admin' and table_name = 'audit_logs' and column_name = 'user_agent'`),
    ).toBe(0)
  })

  test('adopt brings a legacy database to 0_baseline and names the later migrations; deploy then applies them', async () => {
    const legacy = await freshDatabase('migrate_legacy')
    try {
      await loadLegacyFixture(legacy, 'gen2-d00e065', 'admin', 'admin')
      const env = { ADMIN_DATABASE_URL: `${legacy}?schema=admin` }
      const [adopted] = await adopt({ module: 'admin', env, prismaDir, archiveRoot: prismaDir, yes: true })
      expect(adopted.status).toBe('adopted')
      expect(adopted.pending).toEqual(migrationsOf('admin').slice(1))
      const [deployed] = await deploy({ module: 'admin', env, prismaDir })
      expect(deployed.migrations).toEqual(migrationsOf('admin').slice(1))
      const [checklist] = await verify({ module: 'admin', env, prismaDir })
      expect(failingChecks(checklist)).toEqual([])
    } finally {
      await dropDatabase('migrate_legacy')
    }
  })

  test('the baseline is frozen: baseline refuses to rewrite it (exit 2, naming migrate new), baseline --check stays green', async () => {
    const write = await runCli(['baseline', '--module', 'admin'], cliEnv())
    expect(write.exitCode).toBe(2)
    expect(write.stderr.trim()).toMatch(
      /^error: the admin module has migrations after 0_baseline \(.+\), so its baseline stays as deployed: put schema changes in the next migration with npx artstore-db migrate new --module admin --name <change>$/,
    )
    expect((await baseline(opts({ module: 'admin', check: true })))[0].status).toBe('frozen')
    const file = path.join(prismaDir, 'admin', 'migrations', '0_baseline', 'migration.sql')
    const committed = fs.readFileSync(file, 'utf8')
    fs.writeFileSync(file, `${committed}-- edited\n`)
    try {
      expect((await baseline(opts({ module: 'admin', check: true })))[0].status).toBe('differs')
      const [checked] = await migrateCheck(opts({ module: 'admin' }))
      expect(checked.ok).toBe(false)
      expect(checked.problems[0]).toMatch(/^0_baseline\/migration\.sql no longer has its recorded checksum [0-9a-f]{16}: restore it from git/)
    } finally {
      fs.writeFileSync(file, committed)
    }
  })

  test('nothing to migrate: says so, writes nothing, exit 0', async () => {
    const run = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'nothing'], cliEnv())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout.trim()).toBe('✅ admin: nothing to migrate: the history already builds schema.prisma and sql/ (nothing written)')
    expect(migrationsOf('admin')).toHaveLength(4)
  })

  test('a fresh database gets the baseline and every later migration in order; the cycle steps back through each', async () => {
    const fresh = await freshDatabase('migrate_fresh')
    try {
      const [r] = await deploy({ module: 'admin', env: { DATABASE_URL: fresh }, prismaDir })
      expect(r.migrations).toEqual(migrationsOf('admin'))
      const rows = await query<{ migration_name: string }>(fresh, 'select migration_name from admin._prisma_migrations order by started_at')
      expect(rows.map((x) => x.migration_name)).toEqual(migrationsOf('admin'))
      const [cycled] = await cycle({ module: 'admin', env: { DATABASE_URL: fresh }, prismaDir })
      expect(cycled.steps.filter((s) => !s.ok)).toEqual([])
      expect(cycled.steps.map((s) => s.name)).toEqual([
        'deploy',
        'verify',
        ...migrationsOf('admin')
          .slice(1)
          .reverse()
          .map((m) => `step back ${m}`),
        'rollback',
        'nothing left',
        're-deploy',
        're-verify',
      ])
    } finally {
      await dropDatabase('migrate_fresh')
    }
  })
})

describe('storage element: cache columns on a table that holds rows, for two instances', () => {
  test('migrate new once; each instance deploys, checks and rolls back on its own', async () => {
    for (const prefix of ['storage_elem_01', 'storage_elem_02']) {
      const schema = prefix === 'storage_elem_01' ? 'storage_element' : prefix
      await query(
        url,
        `insert into ${schema}.${prefix}_files (file_id, original_filename, storage_filename, file_size, content_type, created_by_id, created_by_username, storage_path, checksum)
                        select gen_random_uuid(), 'f' || g || '.txt', 's' || g, g, 'text/plain', 'u1', 'alice', '/d/' || g, repeat('0', 64) from generate_series(1, 4) g`,
      )
    }
    edit(
      schemaFile('storage-element'),
      '  @@unique([storageFilename], map: "ix_storage_elem_01_files_storage_filename")',
      `  cacheUpdatedAt    DateTime                 @default(now()) @map("cache_updated_at") @db.Timestamptz
  cacheTtlHours     Int                      @default(24) @map("cache_ttl_hours")

  @@unique([storageFilename], map: "ix_storage_elem_01_files_storage_filename")`,
    )
    const r = await migrateNew(opts({ module: 'storage-element', name: 'cache_columns', prefix: 'storage_elem_02' }))
    expect(r.status).toBe('written')
    // Written once, in the template: every instance renders it with its own prefix.
    expect(migrationsOf('storage-element')).toEqual(['0_baseline', r.migration])
    expect(r.up).toMatch(
      /ALTER TABLE "storage_elem_01_files" ADD COLUMN\s+"cache_ttl_hours" INTEGER NOT NULL DEFAULT 24,\nADD COLUMN\s+"cache_updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP;/,
    )
    expect(r.findings.filter((f) => f.level === 'error')).toEqual([])
    await deployCheckRollBackRedeploy('storage-element', 'storage_element', r.migration!, ['select count(*) from storage_element.storage_elem_01_files'])
    await deployCheckRollBackRedeploy(
      'storage-element',
      'storage_elem_02',
      r.migration!,
      ['select count(*) from storage_elem_02.storage_elem_02_files'],
      'storage_elem_02',
    )
    expect(await count('select count(*) from storage_elem_02.storage_elem_02_files where cache_ttl_hours = 24')).toBe(4)
  })
})

describe('query: the sha256 unique index becomes a plain one, and the full-text weights change (an extras change)', () => {
  test('migrate new carries both; down.sql puts the old function body back', async () => {
    await query(
      url,
      `insert into query.file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, storage_element_id, storage_element_url, created_at, updated_at, description)
                      select gen_random_uuid()::text, 'отчёт ' || g, 's' || g, g, md5(g::text), 'alice', 'se-01', 'http://se1', now(), now(), 'квартальный' from generate_series(1, 6) g`,
    )
    edit(
      schemaFile('query'),
      '  @@unique([sha256Hash], map: "ix_file_metadata_cache_sha256_hash")',
      '  @@index([sha256Hash], map: "ix_file_metadata_cache_sha256_hash")',
    )
    edit(path.join(prismaDir, 'query', 'sql', '20_search_vector.sql'), "COALESCE(NEW.description, '')), 'B')", "COALESCE(NEW.description, '')), 'A')")
    const r = await migrateNew(opts({ module: 'query', name: 'sha256_not_unique_and_weights' }))
    expect(r.status).toBe('written')
    expect(r.up).toContain('DROP INDEX "ix_file_metadata_cache_sha256_hash";')
    expect(r.up).toContain('CREATE INDEX "ix_file_metadata_cache_sha256_hash" ON "file_metadata_cache"("sha256_hash");')
    expect(r.up).toContain(`CREATE OR REPLACE FUNCTION "update_file_metadata_search_vector"()`)
    expect(r.up).toContain(`COALESCE(NEW.description, '')), 'A')`)
    expect(r.down).toContain(`COALESCE(NEW.description, '')), 'B')`)
    expect(r.down).toContain('CREATE UNIQUE INDEX "ix_file_metadata_cache_sha256_hash"')
    await deployCheckRollBackRedeploy('query', 'query', r.migration!, ['select count(*) from query.file_metadata_cache'])
    // The new weights are live: a description match now weighs like a filename match.
    await query(url, `update query.file_metadata_cache set description = description`)
    expect(await count(`select count(*) from query.file_metadata_cache where search_vector::text like '%квартальн%:1A%'`)).toBe(6)
  })
})

describe('refusals', () => {
  test('a name that is not snake_case, a reason on two lines, a module missing: one line, exit 2, nothing written', async () => {
    const before = migrationsOf('query')
    const bad = await runCli(['migrate', 'new', '--module', 'query', '--name', 'Add-Index'], cliEnv())
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr.trim()).toBe(
      'error: migration name "Add-Index" is not snake_case: use lower-case letters, digits and _, starting with a letter (e.g. --name add_priority)',
    )
    const noModule = await runCli(['migrate', 'new', '--name', 'x'], cliEnv())
    expect(noModule.exitCode).toBe(2)
    expect(noModule.stderr.trim()).toBe("error: migrate new writes one module's migration at a time: add --module admin, storage-element or query")
    const twoLines = await runCli(['migrate', 'new', '--module', 'query', '--name', 'x', '--allow-dangerous', 'a\nb'], cliEnv())
    expect(twoLines.exitCode).toBe(2)
    expect(migrationsOf('query')).toEqual(before)
  })

  test('rollback refuses a migration without down.sql, and a range that cannot mean anything, before changing anything', async () => {
    const [m] = migrationsOf('query').slice(-1)
    const down = path.join(prismaDir, 'query', 'migrations', m, 'down.sql')
    const text = fs.readFileSync(down, 'utf8')
    fs.rmSync(down)
    try {
      const run = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], cliEnv())
      expect(run.exitCode).toBe(2)
      expect(run.stderr.trim()).toBe(
        `error: ${m} of the query module has no down.sql, so it cannot be rolled back: write its down.sql (npx artstore-db migrate check tells whether it restores the catalog)`,
      )
      const check = await runCli(['migrate', 'check', '--module', 'query'], cliEnv())
      expect(check.exitCode).toBe(1)
      expect(check.stdout).toContain(`❌ ${m} has no down.sql`)
    } finally {
      fs.writeFileSync(down, text)
    }
    const both = await runCli(['rollback', '--module', 'query', '--steps', '1', '--to', '0_baseline', '--yes'], cliEnv())
    expect(both.exitCode).toBe(2)
    const zero = await runCli(['rollback', '--module', 'query', '--steps', '0', '--yes'], cliEnv())
    expect(zero.exitCode).toBe(2)
    expect((await status(opts({ module: 'query' })))[0].state).toBe('up-to-date')
    // --to names the migration that stays: here, everything after the baseline goes.
    const to = await rollback(opts({ module: 'query', to: '0_baseline', dryRun: true }))
    expect(to.status).toBe('would-roll-back')
    expect(to.migrations).toEqual(migrationsOf('query').slice(1).reverse())
  })
})

describe('extras: a new sql/ file becomes its statements, a removed one its reverse', () => {
  const extra = () => path.join(prismaDir, 'storage-element', 'sql', '30_touch.sql')

  test('a new file: its check constraint (NOT VALID, validated in _validate), function and trigger; down.sql removes them', async () => {
    fs.writeFileSync(
      extra(),
      `-- Keeps updated_at current on every update, and rejects negative sizes.
ALTER TABLE "storage_elem_01_files" ADD CONSTRAINT "storage_elem_01_files_size_check" CHECK (file_size >= 0);

CREATE FUNCTION "storage_elem_01_touch"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER "storage_elem_01_touch"
BEFORE UPDATE ON "storage_elem_01_files"
FOR EACH ROW EXECUTE FUNCTION "storage_elem_01_touch"();
`,
    )
    const r = await migrateNew(opts({ module: 'storage-element', name: 'touch' }))
    expect(r.status).toBe('written')
    expect(r.up).not.toContain('-- CreateTable')
    expect(r.up).toContain('ALTER TABLE "storage_elem_01_files" ADD CONSTRAINT "storage_elem_01_files_size_check" CHECK ((file_size >= 0)) NOT VALID;')
    expect(r.also.map((m) => m.migration)).toEqual([expect.stringMatching(/^\d{14}_touch_validate$/)])
    expect(r.also[0].up).toContain('ALTER TABLE "storage_elem_01_files" VALIDATE CONSTRAINT "storage_elem_01_files_size_check";')
    expect(r.up).toContain('CREATE OR REPLACE FUNCTION "storage_elem_01_touch"()')
    expect(r.up).toContain('CREATE TRIGGER "storage_elem_01_touch"')
    expect(r.down).toMatch(/DROP CONSTRAINT "storage_elem_01_files_size_check"/)
    expect(r.down).toContain('DROP TRIGGER "storage_elem_01_touch" ON "storage_elem_01_files";')
    expect(r.down).toContain('DROP FUNCTION "storage_elem_01_touch"();')
    await deployCheckRollBackRedeploy(
      'storage-element',
      'storage_element',
      [r.migration!, r.also[0].migration!],
      ['select count(*) from storage_element.storage_elem_01_files'],
    )
    expect(
      await query(
        url,
        `select convalidated from pg_constraint where conname = 'storage_elem_01_files_size_check' and connamespace = 'storage_element'::regnamespace`,
      ),
    ).toEqual([{ convalidated: true }])
  })

  test('the file removed: the reverse, warned about as a behaviour change; down.sql puts them back', async () => {
    fs.rmSync(extra())
    const r = await migrateNew(opts({ module: 'storage-element', name: 'untouch' }))
    expect(r.status).toBe('written')
    expect(r.up).toContain('DROP TRIGGER "storage_elem_01_touch" ON "storage_elem_01_files";')
    expect(r.up).toContain('DROP FUNCTION "storage_elem_01_touch"();')
    expect(r.findings.filter((f) => f.rule === 'behaviour-change').map((f) => f.message)).toEqual([
      'drops trigger storage_elem_01_touch',
      'drops function storage_elem_01_touch',
    ])
    expect(r.down).toContain('CREATE OR REPLACE FUNCTION "storage_elem_01_touch"()')
    expect(r.down).toContain('CREATE TRIGGER storage_elem_01_touch BEFORE UPDATE ON storage_elem_01_files')
    await deployCheckRollBackRedeploy('storage-element', 'storage_element', r.migration!, ['select count(*) from storage_element.storage_elem_01_files'])
  })
})
