// `artstore-db archive` and `archive verify` as a user runs them (child process, real exit codes), and
// --database against real PostgreSQL version tables. Output always goes to a scratch root.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { archive } from '../../src/archive/archive.ts'
import type { Manifest } from '../../src/archive/manifest.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { literal, scratchCopy, scratchRootRelative } from '../helpers/workdir.ts'

const DATE = '2025-11-16'
const PASSWORD_IN_TEST = 'never-print-me-archive'
let url: string
let urlWithPassword: string

const versionTable = (schemaTable: string) =>
  `create table ${schemaTable} (version_num varchar(32) not null, constraint ${schemaTable.split('.').pop()}_pkc primary key (version_num))`

beforeAll(async () => {
  url = await freshDatabase('archive')
  const u = new URL(url)
  if (!u.password) u.password = PASSWORD_IN_TEST
  urlWithPassword = u.toString()
  // As the legacy services left them: one version table per module, in the module's schema.
  for (const sql of [
    'create schema admin',
    'create schema storage_element',
    'create schema query',
    'create schema legacy_admin',
    versionTable('admin.alembic_version'),
    `insert into admin.alembic_version values ('20251116_1630_pwd_policy')`,
    versionTable('storage_element.storage_elem_01_alembic_version'),
    `insert into storage_element.storage_elem_01_alembic_version values ('a0053fc7f95d')`,
    versionTable('storage_element.storage_elem_02_alembic_version'),
    `insert into storage_element.storage_elem_02_alembic_version values ('100779395dad')`,
    versionTable('legacy_admin.alembic_version'),
    `insert into legacy_admin.alembic_version values ('20251115_1600_jwt')`,
    // A decoy outside every module schema: it must never be read.
    versionTable('public.alembic_version'),
    `insert into public.alembic_version values ('decoy_revision')`,
  ]) {
    await query(url, sql)
  }
})
afterAll(() => dropDatabase('archive'))

function scratch(name: string, fixture = 'legacy-8b9ca29') {
  const dir = scratchCopy(path.join('alembic', fixture), `archive-db-${name}`)
  return { dir, root: path.join(dir, 'out') }
}
const manifestOf = (root: string, module: string, name = `${DATE}-alembic`): Manifest =>
  JSON.parse(fs.readFileSync(path.join(root, module, 'archive', name, 'manifest.json'), 'utf8'))
const oneLine = (stderr: string) => {
  const lines = stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  return lines[0]
}
const archiveArgs = (module: string, from: string, root: string, ...more: string[]) => [
  'archive',
  '--module',
  module,
  '--from',
  from,
  '--root',
  root,
  '--date',
  DATE,
  ...more,
]

describe('--database records the live Alembic version', () => {
  test('admin: alembic_version in the module schema, at the head of the archived chain', async () => {
    const { dir, root } = scratch('admin')
    const run = await runCli([...archiveArgs('admin', path.join(dir, 'admin', 'versions'), root, '--database', '--json')], { DATABASE_URL: urlWithPassword })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout + run.stderr).not.toContain(PASSWORD_IN_TEST)
    const expected = {
      pgSchema: 'admin',
      versionTable: 'alembic_version',
      tableFound: true,
      versions: [{ revision: '20251116_1630_pwd_policy', inChain: true, position: 5 }],
    }
    expect(JSON.parse(run.stdout).manifest.database).toEqual(expected)
    expect(manifestOf(root, 'admin').database).toEqual(expected)
    expect(fs.readFileSync(path.join(root, 'admin', 'archive', `${DATE}-alembic`, 'MANIFEST.md'), 'utf8')).toContain(
      '`admin.alembic_version` holds `20251116_1630_pwd_policy`: in the archived chain, position 5 of 5 (the head).',
    )
    // The database was only read.
    expect(await query(url, 'select version_num from admin.alembic_version')).toEqual([{ version_num: '20251116_1630_pwd_policy' }])
  })

  test('storage element: <prefix>_alembic_version, default prefix and --prefix', async () => {
    const { dir, root } = scratch('storage')
    const from = path.join(dir, 'storage-element', 'versions')
    const plan = await archive({ module: 'storage-element', from, root, date: DATE, database: true, dryRun: true, env: { DATABASE_URL: url } })
    expect(plan.manifest.database).toEqual({
      pgSchema: 'storage_element',
      versionTable: 'storage_elem_01_alembic_version',
      tableFound: true,
      versions: [{ revision: 'a0053fc7f95d', inChain: true, position: 1 }],
    })
    const r = await archive({ module: 'storage-element', from, root, date: DATE, database: true, prefix: 'storage_elem_02', env: { DATABASE_URL: url } })
    // The post-reset root revision is not in the old chain.
    expect(r.manifest.database).toMatchObject({
      versionTable: 'storage_elem_02_alembic_version',
      versions: [{ revision: '100779395dad', inChain: false, position: null }],
    })
    expect(manifestOf(root, 'storage-element').database?.versionTable).toBe('storage_elem_02_alembic_version')
  })

  test('query: no version table in its schema (the public decoy is not read)', async () => {
    const { dir, root } = scratch('query')
    const r = await archive({ module: 'query', from: path.join(dir, 'query', 'versions'), root, date: DATE, database: true, env: { DATABASE_URL: url } })
    expect(r.manifest.database).toEqual({ pgSchema: 'query', versionTable: 'alembic_version', tableFound: false, versions: [] })
  })

  test('a module URL with ?schema= is searched in that schema', async () => {
    const { dir, root } = scratch('own-url')
    const own = new URL(url)
    own.searchParams.set('schema', 'legacy_admin')
    const r = await archive({
      module: 'admin',
      from: path.join(dir, 'admin', 'versions'),
      root,
      date: DATE,
      database: true,
      env: { ADMIN_DATABASE_URL: own.toString() },
    })
    expect(r.manifest.database).toEqual({
      pgSchema: 'legacy_admin',
      versionTable: 'alembic_version',
      tableFound: true,
      versions: [{ revision: '20251115_1600_jwt', inChain: true, position: 3 }],
    })
  })

  test('an unreachable server: exit 2, one line, nothing moved', async () => {
    const { dir, root } = scratch('unreachable')
    const run = await runCli(archiveArgs('admin', path.join(dir, 'admin', 'versions'), root, '--database'), {
      DATABASE_URL: 'postgresql://postgres:pw@127.0.0.1:1/artstore',
    })
    expect(run.exitCode).toBe(2)
    expect(oneLine(run.stderr)).toBe('error: cannot reach the database server at 127.0.0.1:1: start it, or fix the host and port in DATABASE_URL')
    expect(fs.readdirSync(path.join(dir, 'admin', 'versions'))).toHaveLength(7)
    expect(fs.existsSync(root)).toBe(false)
  })
})

describe('the command line: exit codes and one-line errors', () => {
  test('archive the three histories, verify (0), tamper (1), and re-run (already archived)', async () => {
    const { dir, root } = scratch('cli')
    for (const m of ['admin', 'storage-element', 'query']) {
      const run = await runCli(archiveArgs(m, path.join(dir, m, 'versions'), root))
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.stdout).toMatch(
        new RegExp(
          `^📦 ${m}: archived \\d migrations? \\(alembic\\) into ${literal(scratchRootRelative)}/archive-db-cli/out/${m}/archive/${DATE}-alembic$`,
          'm',
        ),
      )
    }
    const ok = await runCli(['archive', 'verify', '--root', root])
    expect(ok.exitCode, ok.stderr).toBe(0)
    expect(ok.stdout.trim().split('\n')).toHaveLength(4)
    expect(ok.stdout).toMatch(/^✅ admin {2}\S+admin\/archive\/2025-11-16-alembic: 5 files, 5 migrations, chain sum [0-9a-f]{16}…$/m)
    expect(ok.stdout).toMatch(/^✅ query {2}\S+: 1 file, 1 migration, chain sum/m)

    const again = await runCli(archiveArgs('admin', path.join(dir, 'admin', 'versions'), root))
    expect(again.exitCode).toBe(0)
    expect(again.stdout.trim()).toMatch(/^✅ admin: already archived in \S+, 5 migrations \(alembic\); nothing changed$/)

    fs.appendFileSync(path.join(root, 'query', 'archive', `${DATE}-alembic`, '20250115_0001_initial_schema.py'), '# tampered\n')
    const bad = await runCli(['archive', 'verify', '--root', root, '--module', 'query'])
    expect(bad.exitCode).toBe(1)
    expect(bad.stdout.trim()).toMatch(/^❌ query {2}\S+: 20250115_0001_initial_schema\.py: content differs from the manifest/)
    const json = await runCli(['archive', 'verify', '--json', '--root', root])
    expect(json.exitCode).toBe(1)
    expect(JSON.parse(json.stdout).archives.map((a: { ok: boolean }) => a.ok)).toEqual([true, true, false])
  })

  test('--dry-run prints the moves and the manifest, writes nothing, exit 0', async () => {
    const { dir, root } = scratch('cli-dry')
    const run = await runCli(archiveArgs('query', path.join(dir, 'query', 'versions'), root, '--dry-run'))
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toContain('📝 query: would archive 1 migration (alembic)')
    expect(run.stdout).toMatch(
      /^ {3}move \S+\/query\/versions\/20250115_0001_initial_schema\.py → \S+\/out\/query\/archive\/2025-11-16-alembic\/20250115_0001_initial_schema\.py$/m,
    )
    expect(run.stdout).toContain('    ## Query Module (1 migration)')
    expect(fs.existsSync(root)).toBe(false)
    expect(fs.existsSync(path.join(dir, 'query', 'versions', '20250115_0001_initial_schema.py'))).toBe(true)
  })

  test.each([
    [
      'several heads',
      'two-heads',
      ['--module', 'admin'],
      /^error: the history has 2 heads \(2222bbbb0002_add_color\.py \(2222bbbb0002\), 3333cccc0003_add_size\.py \(3333cccc0003\)\): merge them first/,
    ],
    ['a missing parent', 'missing-parent', ['--module', 'admin'], /^error: 4444dddd0004_add_owner\.py revises 9999ffff0009, which is not in the folder/],
    ['a cycle', 'cycle', ['--module', 'admin'], /^error: the revisions form a cycle/],
    ['an unknown module', 'two-heads', ['--module', 'billing'], /^error: unknown module "billing": use one of admin, storage-element, query/],
    ['a bad prefix', 'two-heads', ['--module', 'storage-element', '--prefix', 'Storage-1'], /^error: storage-element prefix "Storage-1" does not match/],
    [
      'a bad date',
      'two-heads',
      ['--module', 'admin', '--date', '16.11.2025'],
      /^error: invalid archive date "16\.11\.2025": use a calendar date as YYYY-MM-DD/,
    ],
  ])('%s: exit 2, one line, nothing moved', async (_name, fixture, args, pattern) => {
    const { dir, root } = scratch(`cli-${fixture}-${args[1]}`, fixture)
    const before = fs.readdirSync(path.join(dir, 'versions')).sort()
    const date = args.includes('--date') ? [] : ['--date', DATE]
    const run = await runCli(['archive', '--from', path.join(dir, 'versions'), '--root', root, ...date, ...args])
    expect(run.exitCode).toBe(2)
    expect(oneLine(run.stderr)).toMatch(pattern)
    expect(fs.readdirSync(path.join(dir, 'versions')).sort()).toEqual(before)
    expect(fs.existsSync(root)).toBe(false)
  })

  test('other files under an existing archive name: exit 2, one line, nothing changed', async () => {
    const { dir, root } = scratch('cli-conflict')
    const src = path.join(dir, 'admin', 'versions')
    expect((await runCli(archiveArgs('admin', src, root))).exitCode).toBe(0)
    fs.writeFileSync(path.join(src, '20251117_0000_create_admin_users_table.py'), "revision = '20251117_0000'\ndown_revision = None\n")
    const run = await runCli(archiveArgs('admin', src, root))
    expect(run.exitCode).toBe(2)
    expect(oneLine(run.stderr)).toMatch(
      /^error: \S+\/admin\/archive\/2025-11-16-alembic already exists with different files \(20251117_0000_create_admin_users_table\.py is not in it\): nothing was changed;/,
    )
    expect(fs.existsSync(path.join(src, '20251117_0000_create_admin_users_table.py'))).toBe(true)
  })

  test('missing --from, options verify does not take, and verify of a module without archive: exit 2, one line', async () => {
    const { root } = scratch('cli-usage')
    const noFrom = await runCli(['archive', '--module', 'admin'])
    expect(noFrom.exitCode).toBe(2)
    expect(oneLine(noFrom.stderr)).toBe("error: required option '--from <dir>' not specified (see npx artstore-db --help)")
    const wrong = await runCli(['archive', 'verify', '--from', 'x'])
    expect(wrong.exitCode).toBe(2)
    expect(oneLine(wrong.stderr)).toMatch(/^error: unknown option '--from' for archive verify/)
    const none = await runCli(['archive', 'verify', '--module', 'query', '--root', root])
    expect(none.exitCode).toBe(2)
    expect(oneLine(none.stderr)).toMatch(
      /^error: module query has no archive under \S+: run npx artstore-db archive --module query --from <versions dir> first$/,
    )
  })

  test('help documents the exit codes of both commands', async () => {
    const a = await runCli(['archive', '--help'])
    expect(a.exitCode).toBe(0)
    expect(a.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 +bad input/)
    expect(a.stdout).toContain('verify [options]')
    const v = await runCli(['archive', 'verify', '--help'])
    expect(v.exitCode).toBe(0)
    expect(v.stdout).toMatch(/Usage: artstore-db archive verify \[options\][\s\S]*Exit codes:\n\s+0 +every archive matches/)
  })
})
