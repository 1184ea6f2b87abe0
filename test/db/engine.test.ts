// The bridge executable on its own: the one-shot commands, the JSON-RPC protocol, panics and the
// start-up check of the Wasm module against its glue.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { databasesLike, dropDatabase, freshDatabase, urlFor } from '../helpers/db.ts'
import { runEngine } from '../helpers/engine.ts'

let url: string
const datasource = (u: string) => ['--datasource', JSON.stringify({ url: u })]

beforeAll(async () => {
  url = await freshDatabase('engine')
  await dropDatabase('engine_created')
})
afterAll(async () => {
  await dropDatabase('engine')
  await dropDatabase('engine_created')
})

describe('one-shot commands', () => {
  test('--version prints the engine hash the CLI expects', async () => {
    const run = await runEngine(['--version'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toBe('schema-engine-cli d1b3f377ca835d73fd50954a5e22128b9ebdd6b8\n')
  })

  test('can-connect-to-database: 0 when it can, P1003 for a missing database, P1001 for no server', async () => {
    expect((await runEngine([...datasource(url), 'cli', 'can-connect-to-database'])).exitCode).toBe(0)
    const missing = await runEngine([...datasource(urlFor('artstore_t_engine_missing')), 'cli', 'can-connect-to-database'])
    expect(missing.exitCode).toBe(1)
    expect(missing.logs.at(-1)?.fields).toMatchObject({ error_code: 'P1003', message: expect.stringContaining('`artstore_t_engine_missing` does not exist') })
    const noServer = await runEngine([...datasource('postgresql://postgres@127.0.0.1:1/x'), 'cli', 'can-connect-to-database'])
    expect(noServer.exitCode).toBe(1)
    expect(noServer.logs.at(-1)?.fields.error_code).toBe('P1001')
  })

  test('create-database creates the database', async () => {
    const run = await runEngine([...datasource(urlFor('artstore_t_engine_created')), 'cli', 'create-database'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toContain("Database 'artstore_t_engine_created' was successfully created.")
    expect(await databasesLike('artstore_t_engine_created')).toEqual(['artstore_t_engine_created'])
  })
})

describe('JSON-RPC', () => {
  test('getDatabaseVersion answers with the server version', async () => {
    const run = await runEngine(datasource(url), [{ method: 'getDatabaseVersion', params: { datasource: { tag: 'ConnectionString', url } } }])
    expect(run.exitCode).toBe(0)
    expect(run.messages[0]).toMatchObject({ id: 1, result: expect.stringMatching(/PostgreSQL 1[57]\./) })
  })

  test('diff sends its script back through a print request before answering', async () => {
    const run = await runEngine(datasource(url), [
      {
        method: 'diff',
        params: {
          from: { tag: 'empty' },
          to: {
            tag: 'schemaDatamodel',
            files: [{ path: 'schema.prisma', content: 'datasource db {\n  provider = "postgresql"\n}\nmodel Thing {\n  id Int @id\n}\n' }],
          },
          script: true,
          shadowDatabaseUrl: null,
          exitCode: null,
          filters: { externalTables: [], externalEnums: [] },
        },
      },
    ])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.messages[0]).toMatchObject({ method: 'print', params: { content: expect.stringContaining('CREATE TABLE "Thing"') } })
    expect(run.messages[1]).toMatchObject({ id: 1, result: { exitCode: 0 } })
  })

  test('an unknown method is a JSON-RPC "method not found" error', async () => {
    const run = await runEngine(datasource(url), [{ method: 'noSuchMethod', params: {} }])
    expect(run.messages[0]).toMatchObject({ id: 1, error: { code: -32601, data: { is_panic: false, message: 'Unsupported method noSuchMethod' } } })
  })

  test('a panic inside the engine is reported as a panic, with its message', async () => {
    const run = await runEngine(datasource(url), [{ method: 'debugPanic', params: {} }])
    expect(run.messages[0]).toMatchObject({
      id: 1,
      error: { data: { is_panic: true, message: expect.stringMatching(/^panicked at .*\nThis is the debugPanic artificial panic$/) } },
    })
  })
})

describe('start-up check of the Wasm module against its glue', () => {
  test('a Wasm module whose imports the glue lacks stops with one line naming both versions', async () => {
    // A minimal module importing one function the glue does not have.
    const name = Buffer.from('__wbg_not_in_this_glue')
    const modName = Buffer.from('./schema_engine_bg.js')
    const importEntry = Buffer.concat([Buffer.from([modName.length]), modName, Buffer.from([name.length]), name, Buffer.from([0x00, 0x00])])
    const importSection = Buffer.concat([Buffer.from([0x01]), importEntry])
    const wasm = Buffer.concat([
      Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]),
      Buffer.from([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]), // type section: one () -> () function type
      Buffer.from([0x02, importSection.length]),
      importSection,
    ])
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-wasm-'))
    const file = path.join(tmp, 'schema_engine_bg.wasm')
    fs.writeFileSync(file, wasm)
    const run = await runEngine(datasource(url), [{ method: 'getDatabaseVersion', params: {} }], { ARTSTORE_SCHEMA_ENGINE_WASM: file })
    fs.rmSync(tmp, { recursive: true, force: true })
    expect(run.exitCode).toBe(1)
    const firstLine = run.stderr.split('\n')[0]
    expect(firstLine).toMatch(
      /^schema engine mismatch: schema_engine_bg\.wasm of prisma 7\.10\.1 \(engine d1b3f377ca83\) needs imports that @prisma\/schema-engine-wasm 8\.1\.0-2\.59be4fda12412a79eeb9c2ae727b6aa723593323 lacks \(__wbg_not_in_this_glue\): .*npm ci$/,
    )
  })
})
