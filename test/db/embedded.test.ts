// The embedded PostgreSQL: initialised on first use, reused on later runs, stopped cleanly, and run
// as the `postgres` user when started by root. Uses a data folder and port of its own.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { spawn } from 'node:child_process'
import { afterAll, describe, expect, test } from 'vitest'
import { projectRoot } from '../../src/modules.ts'
import { portAnswers } from '../../src/net/port.ts'
import { embeddedOptions, startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-embedded-'))
fs.chmodSync(dir, 0o755) // the cluster's own user must be able to reach its data folder
const options = embeddedOptions({ ARTSTORE_EMBEDDED_DIR: path.join(dir, 'pg'), ARTSTORE_EMBEDDED_PORT: '54339' })
const servers: EmbeddedServer[] = []

const postgresUid = () => Number(/^postgres:[^:]*:(\d+):/m.exec(fs.readFileSync('/etc/passwd', 'utf8'))?.[1])

async function sql(url: string, text: string) {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query(text)).rows
  } finally {
    await c.end()
  }
}

afterAll(async () => {
  for (const s of servers) await s.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('embedded PostgreSQL', () => {
  test('first start initialises a PostgreSQL 17 cluster on 127.0.0.1 with the shared database', async () => {
    const server = await startEmbedded(options)
    servers.push(server)
    expect(server.startedHere).toBe(true)
    expect(server.url).toBe('postgresql://postgres:artstore-embedded@127.0.0.1:54339/artstore')
    const [row] = await sql(server.url, `select current_database() as db, current_setting('server_version_num')::int / 10000 as major`)
    expect(row).toEqual({ db: 'artstore', major: 17 })
    expect(fs.existsSync(path.join(options.dir, 'PG_VERSION'))).toBe(true)
    if (os.userInfo().uid === 0) {
      // Run by root, the cluster runs as `postgres`, which must own its data folder.
      expect(fs.statSync(options.dir).uid).toBe(os.userInfo({ encoding: 'utf8' }).uid === 0 ? postgresUid() : 0)
    }
  })

  test('a second start while it runs reuses the running server and does not own it', async () => {
    const again = await startEmbedded(options)
    expect(again.startedHere).toBe(false)
    await again.stop() // a no-op: the first one keeps running
    expect(await sql(again.url, 'select 1 as one')).toEqual([{ one: 1 }])
  })

  test('a server of another data folder on the same port is not taken for ours', async () => {
    const other = { ...options, dir: path.join(dir, 'other') }
    await expect(startEmbedded(other)).rejects.toThrow(
      /^the embedded PostgreSQL could not start \(port 54339 is taken by an embedded server of .*\/pg; set ARTSTORE_EMBEDDED_PORT to another port\): set DATABASE_URL/,
    )
    expect(fs.existsSync(other.dir)).toBe(false)
  })

  test('stop ends the server cleanly, and the next start reuses the data', async () => {
    await sql(servers[0].url, 'create table kept (id int); insert into kept values (7)')
    await servers[0].stop()
    await expect(sql(servers[0].url, 'select 1')).rejects.toThrow(/ECONNREFUSED/)
    const restarted = await startEmbedded(options)
    servers.push(restarted)
    expect(restarted.startedHere).toBe(true)
    expect(await sql(restarted.url, 'select id from kept')).toEqual([{ id: 7 }])
  })

  test('attack: a TERM to a command that started the server left the server running; now it is stopped before the command exits (143)', async () => {
    for (const s of servers.splice(0)) await s.stop()
    expect(await portAnswers(options.port)).toBe(false)
    const env: NodeJS.ProcessEnv = { ...process.env, ARTSTORE_DOTENV: '0', ARTSTORE_EMBEDDED_DIR: options.dir, ARTSTORE_EMBEDDED_PORT: String(options.port) }
    for (const v of ['DATABASE_URL', 'ADMIN_DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL']) delete env[v]
    const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'deploy'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
    // Once the server it started answers, the deploy still has seconds of work ahead: TERM lands in the middle.
    for (let i = 0; i < 600 && !(await portAnswers(options.port)); i++) await new Promise((r) => setTimeout(r, 50))
    expect(await portAnswers(options.port)).toBe(true)
    child.kill('SIGTERM')
    expect(await exited, stderr).toBe(143)
    expect(stderr).toMatch(/^error: interrupted \(SIGTERM\)/m)
    expect(await portAnswers(options.port)).toBe(false)
  })
})
