// `artstore-db info | deploy | status` as a user runs them: a child process, real exit codes, real
// databases. Every module shares one database here (DATABASE_URL), one PostgreSQL schema each.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { moduleNames, modules } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { databasesLike, dropDatabase, freshDatabase, query, urlFor } from '../helpers/db.ts'
import { historyOf, schemaTables } from '../helpers/expected.ts'

let url: string
/** Each module's committed history: the baseline and the migrations after it. */
const history = { admin: historyOf('admin'), 'storage-element': historyOf('storage-element'), query: historyOf('query') }
/** The tables each module's schema declares, as `<pg schema>.<table>` beside its history table. */
const tablesOf = (m: (typeof moduleNames)[number], pgSchema = modules[m].pgSchema) =>
  [`${pgSchema}._prisma_migrations`, ...schemaTables(m).map((t) => `${pgSchema}.${t}`)].sort()
/** The URL as the user gives it, with a password (trust servers ignore it; it must never be printed). */
let urlWithPassword: string
const PASSWORD_IN_TEST = 'never-print-me-42'

const tablesBySchema = async (u: string) =>
  (
    await query<{ s: string; t: string }>(
      u,
      `select table_schema as s, table_name as t from information_schema.tables
        where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`,
    )
  )
    .map((r) => `${r.s}.${r.t}`)
    .sort()

/** The URL of a fresh database of its own, as the user gives it (with a password), for one test. */
const made: string[] = []
async function fresh(name: string): Promise<{ url: string; urlWithPassword: string }> {
  made.push(name)
  const plain = await freshDatabase(name)
  const u = new URL(plain)
  if (!u.password) u.password = PASSWORD_IN_TEST
  return { url: plain, urlWithPassword: u.toString() }
}

beforeAll(async () => {
  ;({ url, urlWithPassword } = await fresh('cli'))
})
afterAll(async () => {
  for (const name of made) await dropDatabase(name)
  await dropDatabase('cli_admin')
})

describe('deploy, status and info on a shared database', () => {
  test('status on an empty database: every migration pending, exit 1', async () => {
    const { urlWithPassword } = await fresh('cli_status')
    const run = await runCli(['status', '--json'], { DATABASE_URL: urlWithPassword })
    expect(run.exitCode).toBe(1)
    const rows = JSON.parse(run.stdout)
    expect(rows.map((r: { module: string; state: string; pending: string[] }) => [r.module, r.state, r.pending])).toEqual([
      ['admin', 'pending', history.admin],
      ['storage-element', 'pending', history['storage-element']],
      ['query', 'pending', history.query],
    ])
  })

  test('deploy --dry-run lists what it would apply and changes nothing', async () => {
    const { url, urlWithPassword } = await fresh('cli_dry')
    const run = await runCli(['deploy', '--dry-run', '--json'], { DATABASE_URL: urlWithPassword })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).map((r: { status: string }) => r.status)).toEqual(['would-apply', 'would-apply', 'would-apply'])
    expect(await tablesBySchema(url)).toEqual([])
  })

  test('deploy applies each history into its own schema, with its own history table', async () => {
    const { url, urlWithPassword } = await fresh('cli_deploy')
    const run = await runCli(['deploy'], { DATABASE_URL: urlWithPassword })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^✅ admin: applied: ${history.admin.join(', ')} {2}\\(postgresql://.*\\?schema=admin\\)$`)),
      expect.stringMatching(new RegExp(`^✅ storage-element: applied: ${history['storage-element'].join(', ')} {2}\\(.*\\?schema=storage_element\\)$`)),
      expect.stringMatching(new RegExp(`^✅ query: applied: ${history.query.join(', ')} {2}\\(.*\\?schema=query\\)$`)),
    ])
    expect(await tablesBySchema(url)).toEqual([...tablesOf('admin'), ...tablesOf('query'), ...tablesOf('storage-element')])
  })

  test('a second deploy is a no-op, and status then exits 0', async () => {
    expect((await runCli(['deploy'], { DATABASE_URL: urlWithPassword })).exitCode).toBe(0)
    const again = await runCli(['deploy', '--json'], { DATABASE_URL: urlWithPassword })
    expect(again.exitCode).toBe(0)
    expect(JSON.parse(again.stdout).map((r: { status: string }) => r.status)).toEqual(['up-to-date', 'up-to-date', 'up-to-date'])
    const status = await runCli(['status'], { DATABASE_URL: urlWithPassword })
    expect(status.exitCode).toBe(0)
    expect(status.stdout).toContain(`✅ admin: up-to-date — ${history.admin.length} applied, 0 pending`)
    expect(await query(url, 'select count(*)::int as n from admin._prisma_migrations')).toEqual([{ n: history.admin.length }])
  })

  test("info names each module's database with the password masked, and the versions", async () => {
    const run = await runCli(['info', '--json'], { DATABASE_URL: urlWithPassword })
    expect(run.exitCode, run.stderr).toBe(0)
    const password = decodeURIComponent(new URL(urlWithPassword).password)
    expect(run.stdout + run.stderr).not.toContain(password)
    const info = JSON.parse(run.stdout)
    expect(info).toMatchObject({ prisma: '7.10.1', client: '7.10.0', engine: { kind: 'offline-bridge', hash: 'd1b3f377ca835d73fd50954a5e22128b9ebdd6b8' } })
    expect(info.modules.map((m: { module: string; pgSchema: string; source: string }) => [m.module, m.pgSchema, m.source])).toEqual([
      ['admin', 'admin', 'DATABASE_URL'],
      ['storage-element', 'storage_element', 'DATABASE_URL'],
      ['query', 'query', 'DATABASE_URL'],
    ])
    expect(info.modules[0].database).toMatch(/^postgresql:\/\/[^:]+:\*\*\*\*@/)
    expect(info.modules[0].server).toMatch(/^PostgreSQL 1[57]\./)
    const text = await runCli(['info', '--module', 'query'], { DATABASE_URL: urlWithPassword })
    expect(text.stdout).not.toContain(password)
    expect(text.stdout).toMatch(/^query +postgresql:\/\/\S+:\*\*\*\*@\S+\?schema=query {2}\[DATABASE_URL, schema query, PostgreSQL 1[57]\.\d+\]$/m)
  })

  test('a module URL overrides DATABASE_URL for that module alone', async () => {
    const adminUrl = await freshDatabase('cli_admin')
    const run = await runCli(['deploy', '--module', 'admin'], { DATABASE_URL: urlWithPassword, ADMIN_DATABASE_URL: adminUrl })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await tablesBySchema(adminUrl)).toEqual(tablesOf('admin', 'public'))
  })
})

describe('bad input: one line naming the thing and the fix, exit 2, nothing changed', () => {
  const expectOneLine = (stderr: string, pattern: RegExp) => {
    const lines = stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(pattern)
  }

  test('unknown module', async () => {
    const run = await runCli(['deploy', '--module', 'billing'], { DATABASE_URL: url })
    expect(run.exitCode).toBe(2)
    expectOneLine(run.stderr, /^error: unknown module "billing": use one of admin, storage-element, query \(e\.g\. --module admin\)$/)
  })

  test('malformed URL', async () => {
    const run = await runCli(['status'], { DATABASE_URL: 'postgresql//oops:secret-pw@' })
    expect(run.exitCode).toBe(2)
    expectOneLine(run.stderr, /^error: DATABASE_URL is not a valid PostgreSQL URL \(it does not parse as a URL\): set it like postgresql:/)
    expect(run.stderr).not.toContain('secret-pw')
  })

  test('unreachable server', async () => {
    const run = await runCli(['deploy'], { DATABASE_URL: 'postgresql://postgres:pw@127.0.0.1:1/artstore' })
    expect(run.exitCode).toBe(2)
    expectOneLine(run.stderr, /^error: cannot reach the database server at 127\.0\.0\.1:1: start it, or fix the host and port in DATABASE_URL$/)
  })

  test('missing database is reported, and not created', async () => {
    const missing = urlFor('artstore_t_cli_missing')
    const run = await runCli(['deploy', '--module', 'query'], { QUERY_DATABASE_URL: missing })
    expect(run.exitCode).toBe(2)
    expectOneLine(
      run.stderr,
      /^error: database "artstore_t_cli_missing" does not exist at .*: create it \(createdb artstore_t_cli_missing\) or point QUERY_DATABASE_URL at an existing one$/,
    )
    expect(await databasesLike('artstore_t_cli_missing')).toEqual([])
  })

  test('wrong password (on a server that checks passwords)', async (ctx) => {
    const wrong = new URL(url)
    wrong.password = 'definitely-wrong-password'
    const probe = new pg.Client({ connectionString: wrong.toString() })
    const trusted = await probe.connect().then(
      () => true,
      () => false,
    )
    await probe.end().catch(() => undefined)
    if (trusted) ctx.skip() // trust authentication accepts any password: nothing to test on this server
    const run = await runCli(['status'], { DATABASE_URL: wrong.toString() })
    expect(run.exitCode).toBe(2)
    expectOneLine(run.stderr, /^error: password authentication failed for user "\w+" at .*: fix the user or password in DATABASE_URL$/)
    expect(run.stderr).not.toContain('definitely-wrong-password')
  })

  test('unknown command and unknown option', async () => {
    const cmd = await runCli(['deplyo'], { DATABASE_URL: url })
    expect(cmd.exitCode).toBe(2)
    expectOneLine(cmd.stderr, /^error: unknown command 'deplyo'.*deploy.*--help\)$/)
    const opt = await runCli(['status', '--verbose'], { DATABASE_URL: url })
    expect(opt.exitCode).toBe(2)
    expectOneLine(opt.stderr, /^error: unknown option '--verbose'/)
  })

  test('--help documents the exit codes', async () => {
    const run = await runCli(['--help'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n[\s\S]*\s+2 +bad input or configuration/)
  })
})
