// Issue 19 item 7: an interrupted command (Ctrl-C, TERM) drops the scratch databases it created
// before it exits; only a run killed outright (SIGKILL) leaves one, for the next run to drop.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { projectRoot } from '../../src/modules.ts'
import { dropDatabase, freshDatabase, query, urlFor } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

let url: string
let prismaDir: string
/** A token in the slow migration's text: the backend that runs it is this test's, whatever else runs on the server. */
const token = `slow_${randomBytes(4).toString('hex')}`

beforeAll(async () => {
  url = await freshDatabase('scratch_interrupt')
  prismaDir = copyPrismaDir('scratch-interrupt')
  // A later migration that takes a minute: every command that replays the history sits in it.
  const dir = path.join(prismaDir, 'admin', 'migrations', '20990101000000_slow')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'migration.sql'), `-- ${token}\nSELECT pg_sleep(60);\n`)
  fs.writeFileSync(path.join(dir, 'down.sql'), `-- ${token}\nSELECT 1;\n`)
})
afterAll(() => dropDatabase('scratch_interrupt'))

/** The databases whose backend runs this test's slow migration right now. */
const sleepingIn = async () =>
  (
    await query<{ datname: string }>(
      urlFor('postgres'),
      `select distinct datname from pg_stat_activity where query like $1 and pid <> pg_backend_pid() and datname is not null`,
      [`%${token}%pg_sleep%`],
    )
  ).map((r) => r.datname)

/** True while a session holds the advisory lock that marks `database` as a live run's (src/db/scratch.ts). */
const marked = async (database: string) =>
  (
    await query(
      urlFor('postgres'),
      `select 1 from pg_locks where locktype = 'advisory' and objsubid = 2 and classid = 1095914564
          and objid::bigint = (hashtext($1)::bigint + 4294967296) % 4294967296`,
      [database],
    )
  ).length > 0

const exists = async (database: string) => (await query(urlFor('postgres'), 'select 1 from pg_database where datname = $1', [database])).length === 1

/** Starts the CLI, waits until its slow migration runs in a scratch database, sends `signal`; returns that database and the exit code. */
async function interrupt(
  args: string[],
  signal: NodeJS.Signals,
  pattern: RegExp,
  not?: string,
): Promise<{ database: string; exitCode: number | null; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ARTSTORE_DOTENV: '0', ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  for (const v of ['DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL', 'ARTSTORE_SCRATCH_URL']) delete env[v]
  const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  let database: string | undefined
  for (let i = 0; i < 1200 && !database && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 50))
    database = (await sleepingIn()).find((d) => pattern.test(d) && d !== not)
  }
  if (!database) {
    child.kill('SIGKILL')
    throw new Error(`the command never reached its slow migration in a scratch database: ${stderr}`)
  }
  expect(await exists(database)).toBe(true)
  child.kill(signal)
  return { database, exitCode: await exited, stderr }
}

describe('issue 19 item 7: an interrupt drops the scratch database the command created', () => {
  test('attack: Ctrl-C on migrate check left artstore_check_<hex> until the next run; now it is dropped before exit 130', async () => {
    const r = await interrupt(['migrate', 'check', '--module', 'admin'], 'SIGINT', /^artstore_check_[0-9a-f]{8}$/)
    expect(r.exitCode, r.stderr).toBe(130)
    expect(r.stderr.trim().split('\n')).toEqual([
      'error: interrupted (SIGINT): the step in progress was not committed, and the server rolls it back; run the command again',
    ])
    expect(await exists(r.database)).toBe(false)
  })

  test('attack: TERM on migrate new left artstore_new_<hex>; now it is dropped before exit 143', async () => {
    const r = await interrupt(['migrate', 'new', '--module', 'admin', '--name', 'anything', '--dry-run'], 'SIGTERM', /^artstore_new_[0-9a-f]{8}$/)
    expect(r.exitCode, r.stderr).toBe(143)
    expect(await exists(r.database)).toBe(false)
  })

  test('attack: Ctrl-C on cycle left artstore_cycle_<hex>; now it is dropped before exit 130', async () => {
    const r = await interrupt(['cycle', '--module', 'admin'], 'SIGINT', /^artstore_cycle_[0-9a-f]{8}$/)
    expect(r.exitCode, r.stderr).toBe(130)
    expect(await exists(r.database)).toBe(false)
  })

  test('TERM on rehearse drops its artstore_rehearse_<hex> before exit 143', async () => {
    const r = await interrupt(['rehearse', '--module', 'admin'], 'SIGTERM', /^artstore_rehearse_[0-9a-f]{8}$/)
    expect(r.exitCode, r.stderr).toBe(143)
    expect(await exists(r.database)).toBe(false)
  })

  test('a SIGKILL cannot clean up: the database stays, and the next run drops it', async () => {
    const r = await interrupt(['migrate', 'check', '--module', 'admin'], 'SIGKILL', /^artstore_check_[0-9a-f]{8}$/)
    expect(r.exitCode).toBe(null)
    expect(await exists(r.database)).toBe(true)
    // The next run drops it once no session holds its mark: the server ends the killed run's session as it notices.
    for (let i = 0; i < 200 && (await marked(r.database)); i++) await new Promise((res) => setTimeout(res, 50))
    expect(await marked(r.database)).toBe(false)
    const next = await interrupt(['migrate', 'check', '--module', 'admin'], 'SIGINT', /^artstore_check_[0-9a-f]{8}$/, r.database)
    expect(next.exitCode, next.stderr).toBe(130)
    expect(await exists(r.database), `the killed run's ${r.database}`).toBe(false)
    expect(await exists(next.database), `the next run's ${next.database}`).toBe(false)
  })
})

describe("issue 19 item 7: Prisma's temporary shadow database (adopt with later migrations)", () => {
  test('an interrupt drops it: the clean-up the signal handler runs drops the shadow database the engine made', async () => {
    const { createAdapterFactory } = await import('../../src/engine/adapter.ts')
    const { runInterruptCleanups } = await import('../../src/process/cleanup.ts')
    const bridge = createAdapterFactory(url)
    type Bound = { queryRaw(q: { sql: string; args: unknown[]; argTypes: unknown[] }): Promise<{ ok: boolean; value: { rows: unknown[][] } }> }
    const shadow = await (bridge.factory as unknown as { connectToShadowDb(): Promise<{ ok: boolean; value: Bound }> }).connectToShadowDb()
    try {
      const answer = await shadow.value.queryRaw({ sql: 'select current_database()', args: [], argTypes: [] })
      const name = String(answer.value.rows[0][0])
      expect(name).toMatch(/^prisma_migrate_shadow_db_/)
      expect(await exists(name)).toBe(true)
      await runInterruptCleanups()
      expect(await exists(name)).toBe(false)
    } finally {
      await bridge.dispose()
    }
  })
})
