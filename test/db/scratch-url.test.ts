// Issue 20 What-to-build 5: ARTSTORE_SCRATCH_URL names the server (and the role) on which migrate new,
// migrate check and cycle create their scratch databases; a module role without CREATEDB works with it.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query, urlFor } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const suffix = randomBytes(3).toString('hex')
/** The module's role, as in production: it owns its database and may not create others. */
const moduleRole = `artstore_t_module_${suffix}`
/** The role of the scratch server, which may. */
const scratchRole = `artstore_t_scratch_${suffix}`
let url: string
let prismaDir: string

/** The roles' password: the embedded server asks for one (scram), a trust server ignores it. */
const PASSWORD = 'scratch-test'
const as = (role: string, database: string) => {
  const u = new URL(urlFor(database))
  u.username = role
  u.password = PASSWORD
  return u.toString()
}
const hostPort = () => new URL(urlFor('postgres')).host
const env = (extra: Record<string, string> = {}) => ({ ADMIN_DATABASE_URL: as(moduleRole, 'artstore_t_scratch_url'), ARTSTORE_PRISMA_DIR: prismaDir, ...extra })

beforeAll(async () => {
  url = await freshDatabase('scratch_url')
  prismaDir = copyPrismaDir('scratch-url')
  await query(urlFor('postgres'), `create role ${moduleRole} login nocreatedb password '${PASSWORD}'`)
  await query(urlFor('postgres'), `create role ${scratchRole} login createdb password '${PASSWORD}'`)
  await query(urlFor('postgres'), `alter database artstore_t_scratch_url owner to ${moduleRole}`)
  await query(url, `alter schema public owner to ${moduleRole}`)
})
afterAll(async () => {
  await dropDatabase('scratch_url')
  const left = await query<{ datname: string }>(
    urlFor('postgres'),
    `select datname from pg_database d join pg_roles r on r.oid = d.datdba where r.rolname = $1`,
    [scratchRole],
  )
  for (const { datname } of left) await query(urlFor('postgres'), `drop database if exists "${datname}" with (force)`)
  await query(urlFor('postgres'), `drop role if exists ${moduleRole}`)
  await query(urlFor('postgres'), `drop role if exists ${scratchRole}`)
})

describe('ARTSTORE_SCRATCH_URL: where scratch databases are made', () => {
  test('without it, a module role without CREATEDB cannot run migrate check (the scratch database is made with its URL)', async () => {
    const run = await runCli(['migrate', 'check', '--module', 'admin'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      `error: cannot create a scratch database on ${hostPort()} as ${moduleRole} (permission denied to create database): grant that role CREATEDB, or set ARTSTORE_SCRATCH_URL to a server and role that may create databases (see README "Scratch databases")`,
    )
  })

  test('attack: migrate check with a module role without CREATEDB had no way out; with ARTSTORE_SCRATCH_URL it checks out, nothing left there', async () => {
    const run = await runCli(['migrate', 'check', '--module', 'admin'], env({ ARTSTORE_SCRATCH_URL: as(scratchRole, 'postgres') }))
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/✅ admin: 1 migration\(s\) check out/)
    const owned = await query(urlFor('postgres'), `select 1 from pg_database d join pg_roles r on r.oid = d.datdba where r.rolname = $1`, [scratchRole])
    expect(owned).toEqual([])
  })

  test('cycle and migrate new run in the scratch server too (a URL without a database means its postgres database)', async () => {
    const scratch = as(scratchRole, 'postgres').replace(/\/postgres$/, '')
    const cycle = await runCli(['cycle', '--module', 'admin', '--json'], env({ ARTSTORE_SCRATCH_URL: scratch }))
    expect(cycle.exitCode, cycle.stderr).toBe(0)
    const [row] = JSON.parse(cycle.stdout) as { database: string; ok: boolean }[]
    expect(row.ok).toBe(true)
    expect(new URL(row.database).username).toBe(scratchRole)
    expect(cycle.stdout + cycle.stderr).not.toContain(PASSWORD)
    const made = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'nothing', '--dry-run'], env({ ARTSTORE_SCRATCH_URL: scratch }))
    expect(made.exitCode, made.stderr).toBe(0)
    expect(made.stdout).toMatch(/nothing to migrate/)
  })

  test('rehearse copies into the scratch server too', async () => {
    const without = await runCli(['rehearse', '--module', 'admin'], env())
    expect(without.exitCode, without.stderr).toBe(2)
    expect(without.stderr).toMatch(/^error: cannot create a scratch database on .* as .*set ARTSTORE_SCRATCH_URL/)
    const run = await runCli(['rehearse', '--module', 'admin', '--json'], env({ ARTSTORE_SCRATCH_URL: as(scratchRole, 'postgres') }))
    expect(run.exitCode, run.stderr).toBe(0)
    const [r] = JSON.parse(run.stdout) as { status: string; scratch: string }[]
    expect(r.status).toBe('rehearsed')
    expect(new URL(r.scratch).username).toBe(scratchRole)
    expect(run.stdout + run.stderr).not.toContain(PASSWORD)
  })

  test('a malformed ARTSTORE_SCRATCH_URL is refused in one line (exit 2)', async () => {
    const run = await runCli(['migrate', 'check', '--module', 'admin'], env({ ARTSTORE_SCRATCH_URL: 'http://somewhere/x' }))
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      'error: ARTSTORE_SCRATCH_URL is not a valid PostgreSQL URL (scheme "http" is not postgresql): set it like postgresql://user:password@host:5432/database',
    )
  })
})
