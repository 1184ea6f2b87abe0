// Issue 19, item 3: a password is never printed, whichever form of URL carries it. pg and libpq take
// the password from the userinfo (`postgresql://user:pw@host/db`) or from the query string
// (`postgresql://user@host/db?password=pw`), and `sslpassword` (the client key's passphrase) is a
// secret too. Every command's text and JSON output, a fleet run, an error naming the database, and
// the Prisma CLI's path through the bridge are checked with a role that has a password. On a server
// that checks passwords (the embedded one, scram-sha-256), the query-string form must also be the
// password the tool connects with; on a trust server only the output is checked.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { modules, projectRoot } from '../../src/modules.ts'
import { resolveModuleUrl } from '../../src/config/urls.ts'
import { moduleRunOptions, runPrisma } from '../../src/prisma/run.ts'
import { runCli, type CliRun } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, urlFor, withPg } from '../helpers/db.ts'
import { scratchRoot } from '../helpers/workdir.ts'

const ROLE = 'artstore_t_masking_role'
// Characters that must be percent-encoded in a URL: both the raw and the encoded form must never show.
const PASSWORD = 'Pw&19+mask/ed'
const SSL_PASSWORD = 'Key-Phrase-19x'
const SECRETS = [PASSWORD, encodeURIComponent(PASSWORD), SSL_PASSWORD]
const DATABASES = ['masking_admin', 'masking_se', 'masking_query', 'masking_fleet']
const dir = path.join(scratchRoot, 'masking')

/** The three forms of a URL with a password, for one database of the test server. */
const forms = (database: string) => {
  const base = new URL(urlFor(`artstore_t_${database}`))
  const userinfo = new URL(base)
  userinfo.username = ROLE
  userinfo.password = encodeURIComponent(PASSWORD)
  const query = new URL(base)
  query.username = ROLE
  query.password = ''
  query.searchParams.set('password', PASSWORD)
  const ssl = new URL(query)
  ssl.searchParams.set('sslpassword', SSL_PASSWORD)
  return { userinfo: userinfo.toString(), query: query.toString(), sslpassword: ssl.toString() }
}
/** One module per form: admin with the userinfo form, the storage element with ?password=, query with ?sslpassword= too. */
let env: Record<string, string>
let checksPasswords = false

function expectMasked(run: CliRun, what: string) {
  const printed = run.stdout + run.stderr
  for (const s of SECRETS) expect(printed, `${what} printed a secret`).not.toContain(s)
}

beforeAll(async () => {
  await Promise.all(DATABASES.map((d) => dropDatabase(d)))
  await withPg(async (c) => {
    await c.query(`drop role if exists ${ROLE}`)
    await c.query(`create role ${ROLE} login password '${PASSWORD}'`)
  })
  for (const d of DATABASES) {
    await freshDatabase(d)
    await withPg((c) => c.query(`alter database artstore_t_${d} owner to ${ROLE}`))
  }
  env = {
    ADMIN_DATABASE_URL: forms('masking_admin').userinfo,
    STORAGE_ELEMENT_DATABASE_URL: forms('masking_se').query,
    QUERY_DATABASE_URL: forms('masking_query').sslpassword,
  }
  // Does this server check passwords? A wrong one is refused only where it does.
  const wrong = new URL(forms('masking_admin').userinfo)
  wrong.password = 'not-the-password'
  const probe = new pg.Client({ connectionString: wrong.toString() })
  probe.on('error', () => undefined)
  checksPasswords = await probe.connect().then(
    () => false,
    () => true,
  )
  await probe.end().catch(() => undefined)
})

afterAll(async () => {
  await Promise.all(DATABASES.map((d) => dropDatabase(d)))
  await withPg((c) => c.query(`drop role if exists ${ROLE}`))
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('issue 19 item 3: no password in any output, whatever the form of the URL', () => {
  test('deploy, status, verify and info, text and --json: each URL shown masked, no secret anywhere', async () => {
    const deployJson = await runCli(['deploy', '--json'], env)
    expect(deployJson.exitCode, deployJson.stdout + deployJson.stderr).toBe(0)
    const deployed = JSON.parse(deployJson.stdout) as { module: string; status: string; database: string }[]
    expect(deployed.map((r) => [r.module, r.status])).toEqual([
      ['admin', 'applied'],
      ['storage-element', 'applied'],
      ['query', 'applied'],
    ])
    const u = new URL(urlFor('artstore_t_masking_admin'))
    const at = `${ROLE}:****@${u.host}`
    expect(deployed.map((r) => r.database)).toEqual([
      `postgresql://${at}/artstore_t_masking_admin`,
      `postgresql://${ROLE}@${u.host}/artstore_t_masking_se?password=****`,
      `postgresql://${ROLE}@${u.host}/artstore_t_masking_query?password=****&sslpassword=****`,
    ])
    expectMasked(deployJson, 'deploy --json')
    const runs: [string[], number][] = [
      [['deploy'], 0],
      [['status'], 0],
      [['status', '--json'], 0],
      [['verify'], 0],
      [['verify', '--json'], 0],
      [['info'], 0],
      [['info', '--json'], 0],
    ]
    for (const [args, code] of runs) {
      const run = await runCli(args, env)
      expect(run.exitCode, `${args.join(' ')}: ${run.stdout}${run.stderr}`).toBe(code)
      expectMasked(run, args.join(' '))
      // The URLs are shown, masked: the test would pass vacuously if they were not printed at all.
      expect(run.stdout, args.join(' ')).toContain('artstore_t_masking_query?password=****&sslpassword=****')
    }
  })

  test('an error that names the database (the wrong module guard) shows it masked', async () => {
    // The admin module's URL given to the query module: refused, naming the database.
    const run = await runCli(['deploy', '--module', 'query'], { QUERY_DATABASE_URL: forms('masking_admin').sslpassword })
    expect(run.exitCode, run.stdout + run.stderr).toBe(2)
    expect(run.stderr).toContain('artstore_t_masking_admin?password=****&sslpassword=****')
    expectMasked(run, 'the guard')
  })

  test('a fleet run: every row masked, text and --json', async () => {
    fs.mkdirSync(dir, { recursive: true })
    const f = path.join(dir, 'instances.json')
    const fleet = forms('masking_fleet')
    const instances = [
      { name: 'se-userinfo', url: fleet.userinfo, prefix: 'storage_elem_01' },
      { name: 'se-query', url: fleet.query, prefix: 'storage_elem_02' },
      { name: 'se-ssl', urlEnv: 'SE_SSL_URL', prefix: 'storage_elem_03' },
    ]
    // The services' layout: three instances side by side in one schema, each history apart.
    fs.writeFileSync(f, JSON.stringify({ layout: 'shared', instances }))
    const fenv = { SE_SSL_URL: fleet.sslpassword }
    const deployed = await runCli(['deploy', '--instances', f, '--json'], fenv)
    expect(deployed.exitCode, deployed.stdout + deployed.stderr).toBe(0)
    const rows = (JSON.parse(deployed.stdout) as { rows: { instance: string; status: string; database: string }[] }).rows
    expect(rows.map((r) => [r.instance, r.status, r.database.replace(/^.*\//, '')])).toEqual([
      ['se-userinfo', 'ok', 'artstore_t_masking_fleet'],
      ['se-query', 'ok', 'artstore_t_masking_fleet?password=****'],
      ['se-ssl', 'ok', 'artstore_t_masking_fleet?password=****&sslpassword=****'],
    ])
    expectMasked(deployed, 'deploy --instances --json')
    for (const args of [
      ['status', '--instances', f],
      ['verify', '--instances', f, '--json'],
    ]) {
      const run = await runCli(args, fenv)
      expect(run.exitCode, run.stdout + run.stderr).toBe(0)
      expect(run.stdout).toContain('artstore_t_masking_fleet?password=****&sslpassword=****')
      expectMasked(run, args.join(' '))
    }
  })

  test('the password of ?password= is the one the tool connects with (checked where the server checks passwords)', async () => {
    const wrong = new URL(forms('masking_admin').query)
    wrong.searchParams.set('password', 'Not-The-Password-19')
    const refused = await runCli(['info', '--module', 'admin'], { ADMIN_DATABASE_URL: wrong.toString() })
    expect(refused.stderr).not.toContain('Not-The-Password-19')
    const right = await runCli(['info', '--module', 'admin'], { ADMIN_DATABASE_URL: forms('masking_admin').query })
    expect(right.exitCode, right.stdout + right.stderr).toBe(0)
    if (checksPasswords) {
      expect(refused.exitCode).toBe(2)
      expect(refused.stderr).toContain(`password authentication failed for user "${ROLE}"`)
    } else {
      expect(refused.exitCode).toBe(0)
    }
  })

  test('the Prisma CLI through the bridge: a ?password= leaves the engine command line for PGPASSWORD, and connects', async () => {
    // A stand-in for the bridge that records what the Prisma CLI hands it, then runs the real bridge.
    fs.mkdirSync(dir, { recursive: true })
    const log = path.join(dir, 'engine-calls.log')
    const wrapper = path.join(dir, 'schema-engine.mjs')
    fs.rmSync(log, { force: true })
    fs.writeFileSync(
      wrapper,
      [
        '#!/usr/bin/env node',
        "import fs from 'node:fs'",
        `fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv: process.argv.slice(2), pgpassword: process.env.PGPASSWORD ?? null }) + '\\n')`,
        `await import(${JSON.stringify(new URL(`file://${path.join(projectRoot, 'scripts', 'schema-engine.mjs')}`).href)})`,
        '',
      ].join('\n'),
    )
    fs.chmodSync(wrapper, 0o755)
    const url = forms('masking_admin').query
    const target = { module: modules.admin, ...resolveModuleUrl(modules.admin, { ADMIN_DATABASE_URL: url })!, display: '' }
    const run = await runPrisma(['migrate', 'status'], moduleRunOptions(target, { env: { ARTSTORE_NATIVE_ENGINE: '1', PRISMA_SCHEMA_ENGINE_BINARY: wrapper } }))
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toContain('Database schema is up to date!')
    const calls = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[]; pgpassword: string | null })
    const withDatasource = calls.filter((c) => c.argv.some((a) => a.includes('artstore_t_masking_admin')))
    expect(withDatasource.length).toBeGreaterThan(0)
    for (const c of withDatasource) {
      for (const s of SECRETS) expect(c.argv.join(' ')).not.toContain(s)
      expect(c.pgpassword).toBe(PASSWORD)
    }
    for (const s of SECRETS) expect(run.stdout + run.stderr).not.toContain(s)
  })
})
