// The three module schemas end to end through the CLI: baseline --check, verify (and what it catches),
// rollback, cycle, the wrong-database guard and storage-element prefixes. One shared database, one
// PostgreSQL schema per module, as DATABASE_URL lays them out.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { baseline, baselineModule, generateBaseline, laterMigrations } from '../../src/baseline/baseline.ts'
import { SchemaInvalidError } from '../../src/baseline/errors.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { verify } from '../../src/verify/verify.ts'
import { moduleNames, modules, modulesAt } from '../../src/modules.ts'
import { failingChecks } from '../helpers/checks.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { schemaTables } from '../helpers/expected.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { literal, scratchCopy, scratchRootRelative } from '../helpers/workdir.ts'

let url: string
const env = () => ({ DATABASE_URL: url })
const objects = async (schema: string) =>
  (
    await query<{ o: string }>(
      url,
      `select 'table ' || c.relname as o from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'S')
       union all select 'type ' || t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = $1 and t.typtype = 'e'
       union all select 'function ' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1
       order by 1`,
      [schema],
    )
  ).map((r) => r.o)

beforeAll(async () => {
  url = await freshDatabase('schemas')
})
afterAll(async () => {
  await dropDatabase('schemas')
})

/**
 * Every module deployed: the state each test that needs it sets up itself. A test that changes a
 * module's tables behind its history puts them back itself (deploy cannot see such a change).
 */
async function deployed(): Promise<void> {
  const results = await deploy({ env: env() })
  expect(results.filter((r) => r.status === 'failed')).toEqual([])
}

describe('baseline', () => {
  test('baseline --check: the committed baselines are exactly what the schemas and extras produce', async () => {
    const run = await runCli(['baseline', '--check'], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout.match(/✅/g)).toHaveLength(3)
  })

  test('regeneration is byte-identical: every 0_baseline from the schemas it was made of (test/fixtures/prisma-baseline)', async () => {
    // Frozen or not: a module with later migrations has a newer schema.prisma, but its baseline still
    // comes out of the generator byte for byte from the schema of its day.
    const atBaseline = modulesAt(copyPrismaDir('schemas-baseline', { at: 'baseline' }))
    for (const name of moduleNames) {
      const module = atBaseline[name]
      const t = { module, url, source: 'DATABASE_URL' as const, pgSchema: module.pgSchema, display: url }
      const again = await generateBaseline(module, t)
      expect(again.up).toBe(fs.readFileSync(path.join(modules[name].migrationsDir, '0_baseline', 'migration.sql'), 'utf8'))
      expect(again.down).toBe(fs.readFileSync(path.join(modules[name].migrationsDir, '0_baseline', 'down.sql'), 'utf8'))
    }
  })

  test('a committed baseline that is not what regeneration produces is reported with its diff, and left alone', async () => {
    const dir = path.join(copyPrismaDir('edited-admin-baseline', { at: 'baseline' }), 'admin')
    const file = path.join(dir, 'migrations', '0_baseline', 'migration.sql')
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"name" VARCHAR(100) NOT NULL', '"name" VARCHAR(80) NOT NULL'))
    const module = { ...modules.admin, schemaFile: path.join(dir, 'schema.prisma'), migrationsDir: path.join(dir, 'migrations') }
    const t = { module, url, source: 'DATABASE_URL' as const, pgSchema: 'admin', display: url }
    const result = await baselineModule(t, { check: true })
    expect(result.status).toBe('differs')
    expect(result.diff).toContain('-    "name" VARCHAR(80) NOT NULL,\n+    "name" VARCHAR(100) NOT NULL,')
    expect(fs.readFileSync(file, 'utf8')).toContain('VARCHAR(80)')
  })

  test('a schema that fails validation is one line, exit 2', async () => {
    const dir = scratchCopy('../../prisma/query', 'broken-query-schema')
    fs.appendFileSync(path.join(dir, 'schema.prisma'), '\nmodel Broken {\n  id Int @id\n  other DoesNotExist\n}\n')
    const broken = { ...modules.query, schemaFile: path.join(dir, 'schema.prisma') }
    const t = { module: broken, url, source: 'DATABASE_URL' as const, pgSchema: 'query', display: url }
    const error = await generateBaseline(broken, t).catch((e) => e)
    expect(error).toBeInstanceOf(SchemaInvalidError)
    expect(error.exitCode).toBe(2)
    expect(error.message).toMatch(
      new RegExp(
        `^${literal(scratchRootRelative)}/broken-query-schema/schema\\.prisma is not a valid Prisma schema: .*DoesNotExist.*\\(line \\d+\\): fix it, then run npx artstore-db baseline$`,
      ),
    )
    expect(error.message.split('\n')).toHaveLength(1)
  })
})

describe('verify', () => {
  test('on an empty database: a clear ❌ report per module, exit 1', async () => {
    const empty = await freshDatabase('schemas_empty')
    const run = await runCli(['verify'], { DATABASE_URL: empty }).finally(() => dropDatabase('schemas_empty'))
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toBe('')
    for (const m of ['admin', 'storage-element', 'query']) {
      expect(run.stdout).toMatch(new RegExp(`^❌ ${m}: \\d+/\\d+ checks pass`, 'm'))
      expect(run.stdout).toContain(`found none: run npx artstore-db deploy --module ${m}`)
    }
  })

  test("after deploy every check passes, and the seed's checklist is visible in the output", async () => {
    await deployed()
    const run = await runCli(['verify'], env())
    expect(
      run.exitCode,
      run.stdout
        .split('\n')
        .filter((l) => l.includes('❌'))
        .join('\n'),
    ).toBe(0)
    for (const line of [
      '✅ table users',
      '✅ column service_accounts.client_id: character varying(100) not null', // OAuth fields
      '✅ column service_accounts.client_secret_hash: character varying(255) not null',
      "✅ column service_accounts.secret_history: jsonb default '[]'::jsonb", // password-policy fields
      '✅ column service_accounts.secret_changed_at: timestamp with time zone not null default CURRENT_TIMESTAMP',
      '✅ foreign key audit_logs_user_id_fkey: audit_logs: FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL',
      '✅ foreign key types audit_logs_service_account_id_fkey: audit_logs(uuid) = service_accounts(uuid)',
      '✅ unique uq_username: users: UNIQUE (username)',
      '✅ index idx_user_ldap_lookup: users btree (ldap_dn) where ldap_dn IS NOT NULL',
      '✅ enum user_role_enum: ADMIN, OPERATOR, USER',
      '✅ index idx_storage_elem_01_search_vector: storage_elem_01_files gin (search_vector)', // search indexes
      '✅ index idx_file_metadata_search_vector: file_metadata_cache gin (search_vector)',
      '✅ check check_tags_count: file_metadata_cache: CHECK ((array_length(tags, 1) <= 50))',
      '✅ trigger trigger_update_search_vector: CREATE TRIGGER trigger_update_search_vector BEFORE INSERT OR UPDATE OF filename, description, tags ON file_metadata_cache FOR EACH ROW EXECUTE FUNCTION update_file_metadata_search_vector()',
      '✅ history 0_baseline is applied with the committed checksum',
      "✅ isolation history table query._prisma_migrations sits with the module's tables",
      '✅ drift Prisma sees no drift between the database and schema.prisma',
    ]) {
      expect(run.stdout).toContain(line)
    }
  })

  test('catches a dropped index, a changed column, and an FK whose type does not match its target', async () => {
    await deployed()
    try {
      await query(url, 'drop index admin.ix_jwt_keys_is_active')
      await query(url, 'alter table admin.users alter column email type varchar(300)')
      await query(
        url,
        `alter table admin.audit_logs drop constraint audit_logs_user_id_fkey,
                        alter column user_id type bigint,
                        add constraint audit_logs_user_id_fkey foreign key (user_id) references admin.users(id) on delete set null`,
      )
      const run = await runCli(['verify', '--module', 'admin', '--json'], env())
      expect(run.exitCode).toBe(1)
      const failed = JSON.parse(run.stdout)[0].items.filter((i: { ok: boolean }) => !i.ok)
      expect(failed.map((i: { category: string; name: string }) => `${i.category} ${i.name}`)).toEqual(
        expect.arrayContaining([
          'index ix_jwt_keys_is_active',
          'column users.email',
          'column audit_logs.user_id',
          'foreign key types audit_logs_user_id_fkey',
          'drift Prisma sees no drift between the database and schema.prisma',
        ]),
      )
    } finally {
      // Put admin back as its history makes it.
      await rollback({ module: 'admin', all: true, yes: true, env: env() })
      expect((await deploy({ module: 'admin', env: env() }))[0].status).toBe('applied')
    }
  })
})

describe('rollback', () => {
  beforeEach(deployed)

  test('without --yes: one line, exit 2, nothing changed', async () => {
    const before = await objects('query')
    const run = await runCli(['rollback', '--module', 'query'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      'error: rollback reverts migrations of the query module (the whole history drops every table, with its data): add --yes to confirm, or --dry-run to see the SQL',
    )
    expect(await objects('query')).toEqual(before)
  })

  test('--dry-run prints the whole SQL and changes nothing', async () => {
    const before = await objects('query')
    const run = await runCli(['rollback', '--module', 'query', '--all', '--dry-run'], env())
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('DROP TABLE "file_metadata_cache";')
    expect(run.stdout).toContain('DROP FUNCTION IF EXISTS "update_file_metadata_search_vector"();')
    expect(run.stdout).toContain(`DELETE FROM "_prisma_migrations" WHERE "migration_name" = '0_baseline';`)
    expect(await objects('query')).toEqual(before)
  })

  test('--yes drops every table, enum type, function and sequence, and the history row', async () => {
    const run = await runCli(['rollback', '--module', 'admin', '--all', '--yes'], env())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await objects('admin')).toEqual(['table _prisma_migrations']) // no enum left behind (upstream bug 2)
    expect(await query(url, 'select count(*)::int as n from admin._prisma_migrations')).toEqual([{ n: 0 }])
    const again = await runCli(['rollback', '--module', 'admin', '--all', '--yes'], env())
    expect(again.stdout).toContain('nothing applied to roll back')
    expect((await deploy({ module: 'admin', env: env() }))[0].status).toBe('applied')
  })
})

describe('isolation', () => {
  beforeEach(deployed)

  test("a module URL that points at another module's database is refused before anything changes", async () => {
    const queryUrl = new URL(url)
    queryUrl.searchParams.set('schema', 'query')
    const before = await objects('query')
    const run = await runCli(['deploy', '--module', 'admin'], { ADMIN_DATABASE_URL: queryUrl.toString() })
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toMatch(
      /is the query module's database \(its tables file_metadata_cache, search_history, download_statistics and its baseline in _prisma_migrations\), not the admin module's: point ADMIN_DATABASE_URL at the admin database/,
    )
    expect(await objects('query')).toEqual(before)
  })
})

describe('storage-element prefixes', () => {
  test('another instance is rendered from the single source, with its own schema and history', async () => {
    const instance = { module: 'storage-element', prefix: 'storage_elem_02', env: env() }
    expect((await deploy(instance))[0].status).toBe('applied')
    // The schema's tables and the baseline's function, rendered; nothing of another instance.
    const rendered = await objects('storage_elem_02')
    expect(rendered).toEqual(
      expect.arrayContaining([
        'function storage_elem_02_files_search_vector_update',
        'table _prisma_migrations',
        'table storage_elem_02_config_id_seq',
        ...schemaTables('storage-element', 'storage_elem_02').map((t) => `table ${t}`),
      ]),
    )
    expect(rendered.filter((o) => !/^\w+ (storage_elem_02_|_prisma_migrations$)/.test(o))).toEqual([])
    const indexes = await query<{ i: string }>(url, `select indexname as i from pg_indexes where schemaname = 'storage_elem_02' order by 1`)
    expect(indexes.map((r) => r.i)).toContain('idx_storage_elem_02_search_vector')
    expect(indexes.map((r) => r.i).filter((i) => i.includes('storage_elem_01'))).toEqual([])
    const [checklist] = await verify(instance)
    expect(checklist.ok, failingChecks(checklist).join('\n')).toBe(true)
    // Rendering the committed baseline equals regenerating it from the rendered schema of its day.
    expect((await baseline({ ...instance, prismaDir: copyPrismaDir('schemas-instance', { at: 'baseline' }), check: true }))[0].status).toBe('same')
  })

  test('a bad prefix is one line, exit 2, and creates nothing', async () => {
    const run = await runCli(['deploy', '--prefix', 'Storage-02'], { ...env(), STORAGE_ELEMENT_PREFIX: 'ignored_when_flag_given' })
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      'error: storage-element prefix "Storage-02" does not match ^[a-z][a-z0-9_]{0,40}$: use lower-case letters, digits and _ (e.g. --prefix storage_elem_02)',
    )
    expect(await objects('Storage-02')).toEqual([])
  })
})

describe('cycle', () => {
  test('deploy → verify → each later migration stepped back → rollback → nothing left → deploy → verify passes for every module, timed', async () => {
    const run = await runCli(['cycle', '--json'], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const rows = JSON.parse(run.stdout)
    expect(rows.map((r: { module: string; ok: boolean }) => [r.module, r.ok])).toEqual([
      ['admin', true],
      ['storage-element', true],
      ['query', true],
    ])
    for (const r of rows) {
      const stepsBack = laterMigrations(modules[r.module as keyof typeof modules])
        .reverse()
        .map((m) => `step back ${m}`)
      expect(r.steps.map((s: { name: string }) => s.name)).toEqual(['deploy', 'verify', ...stepsBack, 'rollback', 'nothing left', 're-deploy', 're-verify'])
      expect(r.steps.every((s: { ms: number }) => Number.isInteger(s.ms) && s.ms >= 0)).toBe(true)
    }
    // The modules cycled side by side, each in its own schema of one scratch database with a name of
    // this run's own, dropped afterwards.
    const where = rows.map((r: { database: string }) => new URL(r.database))
    const names = [...new Set(where.map((u: URL) => decodeURIComponent(u.pathname.slice(1))))]
    expect(names).toHaveLength(1)
    expect(names[0]).toMatch(/^artstore_cycle_[0-9a-f]{8}$/)
    expect(where.map((u: URL) => u.searchParams.get('schema'))).toEqual(['admin', 'storage_element', 'query'])
    expect(await query(url, `select datname from pg_database where datname = any($1)`, [names])).toEqual([])
  })
})
