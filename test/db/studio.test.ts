// Prisma Studio per module: it serves its page on 127.0.0.1 and answers a data request for one of
// the module's tables, through the offline engine and the module's own config.
import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startStudio, type StudioHandle } from '../../src/studio/studio.ts'
import { modules, projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let url: string
let studio: StudioHandle | undefined

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })

beforeAll(async () => {
  url = await freshDatabase('studio')
  expect((await runCli(['deploy', '--module', 'query'], { DATABASE_URL: url })).exitCode).toBe(0)
  await query(url, `insert into query.search_history (query_text, search_mode, results_count, response_time_ms) values ('годовой отчет', 'fulltext', 3, 12)`)
})
afterAll(async () => {
  await studio?.stop()
  await dropDatabase('studio')
})

test("studio serves its page on 127.0.0.1 and answers a query on the module's table", async () => {
  const target = { module: modules.query, url: `${url}?schema=query`, source: 'DATABASE_URL' as const, pgSchema: 'query', display: url }
  studio = await startStudio(target, await freePort())
  expect(studio.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
  const page = await fetch(studio.url)
  expect(page.status).toBe(200)
  expect(await page.text()).toMatch(/^<!doctype html>/i)
  const res = await fetch(new URL('/bff', studio.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ procedure: 'query', query: { sql: 'select query_text, results_count from "query"."search_history"', parameters: [] } }),
  })
  expect(res.status).toBe(200)
  const body = await res.text()
  expect(body).toContain('годовой отчет')
  expect(body).not.toMatch(/PostgresError/)
})

test('attack: a port already taken (here by another program) is refused at once (exit 2, one line), never served by the wrong Studio', async () => {
  const taken = net.createServer((s) => s.destroy())
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()))
  const { port } = taken.address() as net.AddressInfo
  try {
    const run = await runCli(['studio', '--module', 'query', '--port', String(port)], { DATABASE_URL: url })
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(`error: port ${port} on 127.0.0.1 is already in use (another Studio, or another program): choose a free one with --port`)
  } finally {
    taken.close()
  }
})

test('attack: TERM to the command; Studio does not outlive it', async () => {
  const port = await freePort()
  const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'studio', '--module', 'query', '--port', String(port)], {
    env: { ...process.env, DATABASE_URL: url, ARTSTORE_DOTENV: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  for (let i = 0; i < 600 && !out.includes('Prisma Studio for query'); i++) await new Promise((r) => setTimeout(r, 100))
  expect(out).toContain(`at http://127.0.0.1:${port}/`)
  child.kill('SIGTERM')
  expect(await exited).toBe(143)
  let up = true
  for (let i = 0; i < 50 && up; i++) {
    await new Promise((r) => setTimeout(r, 100))
    up = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    )
  }
  expect(up).toBe(false)
})
