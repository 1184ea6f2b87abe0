// The in-process deploy is `prisma migrate deploy`: on the same fresh database both leave the same
// history rows and the same catalogs, and a failing migration is reported alike. Also: the bridge
// never gets a password on its command line.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { readLocalMigrations } from '../../src/history/history.ts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readCatalog } from '../../src/catalog/read.ts'
import { withPgClient } from '../../src/db/pg-config.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { SchemaEngineError, withSchemaEngine } from '../../src/engine/engine.ts'
import { moduleNames, modules, projectRoot } from '../../src/modules.ts'
import { runPrisma } from '../../src/prisma/run.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { scratchCopy, writeMigration } from '../helpers/workdir.ts'

const prismaCli = path.join(path.dirname(createRequire(import.meta.url).resolve('prisma/package.json')), 'build', 'index.js')

const withSchema = (url: string, schema: string) => {
  const u = new URL(url)
  u.searchParams.set('schema', schema)
  return u.toString()
}

/** The history rows of a module, without what differs by nature (ids, timestamps). */
const historyRows = (url: string, schema: string) =>
  query(
    url,
    `select migration_name, checksum, logs, applied_steps_count, finished_at is not null as finished, rolled_back_at is not null as rolled_back
       from ${schema}._prisma_migrations order by migration_name`,
  )

const catalogOf = (url: string, schema: string) => withPgClient(url, (c) => readCatalog(c, schema))

let inProcess: string
let cli: string
beforeAll(async () => {
  inProcess = await freshDatabase('deploy_engine_a')
  cli = await freshDatabase('deploy_engine_b')
})
afterAll(async () => {
  await dropDatabase('deploy_engine_a')
  await dropDatabase('deploy_engine_b')
  await dropDatabase('deploy_engine_fail_a')
  await dropDatabase('deploy_engine_fail_b')
  await dropDatabase('deploy_engine_argv')
  await dropDatabase('deploy_engine_parallel')
})

describe('in-process deploy and prisma migrate deploy', () => {
  test('leave identical history rows and catalogs on the same fresh database', async () => {
    const results = await deploy({ env: { DATABASE_URL: inProcess } })
    const histories = moduleNames.map((m) => readLocalMigrations(modules[m].migrationsDir).map((x) => x.name))
    expect(results.map((r) => [r.module, r.status, r.migrations])).toEqual(moduleNames.map((m, i) => [m, 'applied', histories[i]]))
    for (const name of moduleNames) {
      const m = modules[name]
      const run = await runPrisma(['migrate', 'deploy'], { configFile: m.configFile, env: { [m.urlVariable]: withSchema(cli, m.pgSchema) } })
      expect(run.exitCode, run.stderr).toBe(0)
    }
    for (const name of moduleNames) {
      const schema = modules[name].pgSchema
      const rows = await historyRows(inProcess, schema)
      expect(rows).toHaveLength(readLocalMigrations(modules[name].migrationsDir).length)
      expect(rows).toEqual(await historyRows(cli, schema))
      expect(await catalogOf(inProcess, schema)).toEqual(await catalogOf(cli, schema))
    }
  })

  test('a second deploy applies nothing and says so', async () => {
    const results = await deploy({ env: { DATABASE_URL: inProcess } })
    expect(results.map((r) => [r.status, r.migrations])).toEqual(moduleNames.map(() => ['up-to-date', []]))
  })

  test('five deploys at once on a fresh database: all succeed, one applies and says so, one history row each', async () => {
    const url = await freshDatabase('deploy_engine_parallel')
    // Each waits for the deploy turn while the others apply (ARTSTORE_TURN_TIMEOUT: longer than 30 s on a busy machine).
    const runs = await Promise.all(
      [1, 2, 3, 4, 5].map(() => deploy({ module: 'admin', env: { ADMIN_DATABASE_URL: withSchema(url, 'admin'), ARTSTORE_TURN_TIMEOUT: '10m' } })),
    )
    const statuses = runs.map(([r]) => r.status)
    expect(statuses.filter((s) => s === 'applied')).toHaveLength(1)
    expect(statuses.filter((s) => s === 'up-to-date')).toHaveLength(4)
    expect(await query(url, 'select migration_name from admin._prisma_migrations order by started_at, migration_name')).toEqual(
      readLocalMigrations(modules.admin.migrationsDir).map((m) => ({ migration_name: m.name })),
    )
  })

  test('a failing migration is reported alike: P3018, the migration, the SQL state and message', async () => {
    const dir = scratchCopy('bridge', 'deploy-engine-fail')
    writeMigration(dir, '0001_init', 'CREATE TABLE public.ok (id int);\n')
    writeMigration(dir, '0002_broken', 'CREATE TABLE public.half (id int);\nINSERT INTO public.does_not_exist VALUES (1);\n')
    const a = await freshDatabase('deploy_engine_fail_a')
    const b = await freshDatabase('deploy_engine_fail_b')

    const error = await withSchemaEngine({ url: a }, (e) => e.applyMigrations(path.join(dir, 'migrations'))).catch((e) => e)
    expect(error).toBeInstanceOf(SchemaEngineError)
    expect(error.code).toBe('P3018')
    expect(error.meta).toMatchObject({ migration_name: '0002_broken', database_error_code: '42P01' })
    expect(error.message).toContain('Migration name: 0002_broken')
    expect(error.message).toContain('Database error code: 42P01')
    expect(error.message).toContain('ERROR: relation "public.does_not_exist" does not exist')

    const run = await runPrisma(['migrate', 'deploy'], { configFile: path.join(dir, 'prisma.config.ts'), cwd: dir, env: { BRIDGE_TEST_URL: b } })
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('Error: P3018')
    expect(run.stderr).toContain(error.message.split('\n').find((l: string) => l.startsWith('ERROR:')))

    const rows = (url: string) =>
      query(
        url,
        `select migration_name, checksum, finished_at is not null as finished, applied_steps_count from public._prisma_migrations order by migration_name`,
      )
    expect(await rows(a)).toEqual(await rows(b))
    expect((await rows(a)).map((r) => r.finished)).toEqual([true, false])
    const tables = (url: string) => query(url, `select table_name from information_schema.tables where table_schema = 'public' order by 1`)
    expect(await tables(a)).toEqual(await tables(b))
  })

  test('the bridge is never given a password on its command line', async () => {
    // A stand-in engine executable that records its arguments, then runs the real bridge.
    const dir = scratchCopy('bridge', 'deploy-engine-argv')
    const log = path.join(dir, 'argv.log')
    const wrapper = path.join(dir, 'schema-engine.mjs')
    const real = path.join(projectRoot, 'scripts', 'schema-engine.mjs')
    fs.writeFileSync(
      wrapper,
      `#!/usr/bin/env node\nimport fs from 'node:fs'\nfs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n')\nawait import(${JSON.stringify(real)})\n`,
      { mode: 0o755 },
    )
    // The embedded server checks the password (scram), a trust server takes any: either way it must
    // reach the engine, and never through its arguments.
    const url = new URL(withSchema(await freshDatabase('deploy_engine_argv'), 'admin'))
    url.password ||= 'pw-that-must-not-show'
    const password = decodeURIComponent(url.password)
    const m = modules.admin
    const run = spawnSync(process.execPath, [prismaCli, 'migrate', 'status', '--config', m.configFile], {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, CHECKPOINT_DISABLE: '1', PRISMA_SCHEMA_ENGINE_BINARY: wrapper, [m.urlVariable]: url.toString() },
    })
    // "migration" or "migrations", as many as the history has after nothing was applied.
    expect(run.stdout + run.stderr).toMatch(/Following migrations? have not yet been applied/)
    const argv = fs.readFileSync(log, 'utf8')
    expect(argv).toContain('--datasource')
    expect(argv).not.toContain(password)
  })
})
