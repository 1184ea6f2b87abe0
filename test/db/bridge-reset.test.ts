// `prisma migrate reset` through the bridge. A storage-element instance in the shared layout (its tables
// beside the other instances' and the services' in one schema, its history in artstore_<prefix>) is
// never reset: the bridge refuses the engine's reset, and every table, row and history row stays. The
// storage element's own prisma.config.ts puts an instance in that layout with STORAGE_ELEMENT_LAYOUT=shared,
// as the artstore-db commands do. Any other URL is reset by the engine: its schema emptied, others untouched.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { modules, projectRoot } from '../../src/modules.ts'
import { runPrisma } from '../../src/prisma/run.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()

const historyOf = (prefix: string) => `artstore_${prefix}`
const INSTANCES = ['storage_elem_02', 'storage_elem_03']

/** A scratch copy of the modules as 0_baseline left them, and a config of the test's own: the instance of STORAGE_ELEMENT_PREFIX at BRIDGE_TEST_URL. */
function project(name: string) {
  const prismaDir = copyPrismaDir(name, { at: 'baseline' })
  const configFile = path.join(prismaDir, 'storage-element-instance.config.ts')
  const src = (f: string) => JSON.stringify(path.join(projectRoot, 'src', f))
  fs.writeFileSync(
    configFile,
    `import { defineConfig } from 'prisma/config'
import { modulesAt } from ${src('modules.ts')}
import { storageElementInstance } from ${src('prefix/prefix.ts')}

const m = storageElementInstance(process.env.STORAGE_ELEMENT_PREFIX!, modulesAt(${JSON.stringify(prismaDir)})['storage-element'])
export default defineConfig({ schema: m.schemaFile, migrations: { path: m.migrationsDir }, datasource: { url: process.env.BRIDGE_TEST_URL } })
`,
  )
  return configFile
}

/** The URL the bridge gets for an instance in the shared layout: tables in `tables`, history in artstore_<prefix>. */
function instanceUrl(url: string, tables: string, prefix: string): string {
  const u = new URL(url)
  u.searchParams.set('schema', tables)
  u.searchParams.set('artstore_history', historyOf(prefix))
  return u.toString()
}

/** The storage element's own config, prisma/storage-element/prisma.config.ts, for one instance of the shared layout. */
const moduleConfig = modules['storage-element'].configFile
const sharedEnv = (url: string, prefix: string) => ({
  STORAGE_ELEMENT_DATABASE_URL: `${url}?schema=public`,
  STORAGE_ELEMENT_PREFIX: prefix,
  STORAGE_ELEMENT_LAYOUT: 'shared',
})

/** Every table of the database outside the catalogs, as schema.table, with its row count. */
async function contents(url: string): Promise<Record<string, number>> {
  const tables = await query<{ s: string; t: string }>(
    url,
    `select schemaname as s, tablename as t from pg_tables where schemaname !~ '^pg_' and schemaname <> 'information_schema' order by 1, 2`,
  )
  const out: Record<string, number> = {}
  for (const { s, t } of tables) out[`${s}.${t}`] = Number((await query<{ n: string }>(url, `select count(*) as n from "${s}"."${t}"`))[0].n)
  return out
}

/** Each instance's `_prisma_migrations` rows, by history schema: name, finished, rolled back. */
async function historyRows(url: string, prefixes: readonly string[]) {
  const out: Record<string, unknown[]> = {}
  for (const p of prefixes) {
    out[p] = await query(
      url,
      `select migration_name as name, finished_at is not null as finished, rolled_back_at is not null as rolled_back, checksum
         from "${historyOf(p)}"._prisma_migrations order by started_at, migration_name`,
    ).catch((e: Error) => [e.message])
  }
  return out
}

/** A row in each instance's config table and in a table of the services' own beside them in public. */
async function addRows(url: string, prefixes: readonly string[]) {
  for (const p of prefixes) {
    await query(
      url,
      `insert into public.${p}_config (current_mode, is_master, total_files, total_size_bytes) values ('edit', true, 7, 700), ('rw', false, 1, 10)`,
    )
  }
  await query(url, `create table public.service_notes (id int primary key, note text)`)
  await query(url, `insert into public.service_notes values (1, 'kept'), (2, 'kept too'), (3, 'and this')`)
}

/** The refusal, on one line of Prisma's output (its `Error: ` first). */
const refusalLine = (output: string) => output.split('\n').find((l) => l.includes('reset refused for storage-element instance'))

describe('prisma migrate reset through the bridge', () => {
  test('shared layout (URL with artstore_history): refused with one line naming rollback --all for the instance; every table, row and history row stays', async () => {
    const url = await freshDatabase('bridge_reset_shared')
    const configFile = project('bridge-reset-shared')
    for (const prefix of INSTANCES) {
      const run = await runPrisma(['migrate', 'deploy'], {
        configFile,
        env: { BRIDGE_TEST_URL: instanceUrl(url, 'public', prefix), STORAGE_ELEMENT_PREFIX: prefix },
      })
      expect({ prefix, exitCode: run.exitCode }, run.stdout + run.stderr).toEqual({ prefix, exitCode: 0 })
    }
    await addRows(url, INSTANCES)
    const before = { contents: await contents(url), histories: await historyRows(url, INSTANCES) }
    expect(before.contents).toMatchObject({ 'public.storage_elem_02_config': 2, 'public.storage_elem_03_config': 2, 'public.service_notes': 3 })

    const run = await runPrisma(['migrate', 'reset', '--force'], {
      configFile,
      env: { BRIDGE_TEST_URL: instanceUrl(url, 'public', 'storage_elem_02'), STORAGE_ELEMENT_PREFIX: 'storage_elem_02' },
    })
    const output = run.stdout + run.stderr
    expect(run.exitCode, output).toBe(1)
    expect(refusalLine(output), output).toBe(
      'Error: reset refused for storage-element instance storage_elem_02: it shares schema "public" with the other instances\' tables and the services\', which a reset must not drop, and its history is in "artstore_storage_elem_02"; nothing was changed. To empty this instance alone: STORAGE_ELEMENT_LAYOUT=shared npx artstore-db rollback --module storage-element --prefix storage_elem_02 --all --yes, then npx artstore-db deploy --module storage-element --prefix storage_elem_02',
    )
    expect(output).not.toContain('Database reset successful')
    expect({ contents: await contents(url), histories: await historyRows(url, INSTANCES) }).toEqual(before)
  })

  test("the storage element's prisma.config.ts with STORAGE_ELEMENT_LAYOUT=shared: migrate deploy puts each instance's history in artstore_<prefix>, none in public; status up to date for each", async () => {
    const url = await freshDatabase('bridge_reset_config')
    const folders = fs
      .readdirSync(modules['storage-element'].migrationsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort()
    for (const prefix of INSTANCES) {
      const run = await runPrisma(['migrate', 'deploy'], { configFile: moduleConfig, env: sharedEnv(url, prefix) })
      expect({ prefix, exitCode: run.exitCode }, run.stdout + run.stderr).toEqual({ prefix, exitCode: 0 })
    }
    const histories = await query<{ s: string }>(
      url,
      `select n.nspname as s from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = '_prisma_migrations' and c.relkind = 'r' order by 1`,
    )
    expect(histories.map((r) => r.s)).toEqual(INSTANCES.map(historyOf))
    const rows = await historyRows(url, INSTANCES)
    for (const prefix of INSTANCES) {
      expect((rows[prefix] as { name: string; finished: boolean }[]).map((r) => [r.name, r.finished])).toEqual(folders.map((f) => [f, true]))
      expect(Object.keys(await contents(url)).filter((t) => t.startsWith(`public.${prefix}_`)).length).toBeGreaterThan(0)
      const status = await runCli(['status', '--module', 'storage-element', '--prefix', prefix, '--json'], {
        STORAGE_ELEMENT_DATABASE_URL: `${url}?schema=public`,
        STORAGE_ELEMENT_LAYOUT: 'shared',
      })
      expect({ prefix, exitCode: status.exitCode }, status.stdout + status.stderr).toEqual({ prefix, exitCode: 0 })
      expect(JSON.parse(status.stdout)[0]).toMatchObject({ state: 'up-to-date', historySchema: historyOf(prefix) })
    }
  })

  test("instances deployed by artstore-db deploy in the shared layout: prisma migrate reset through the storage element's prisma.config.ts with STORAGE_ELEMENT_LAYOUT=shared is refused; nothing of any instance or of the services is dropped", async () => {
    const url = await freshDatabase('bridge_reset_module')
    for (const prefix of INSTANCES) {
      const run = await runCli(['deploy', '--module', 'storage-element', '--prefix', prefix], sharedEnv(url, prefix))
      expect({ prefix, exitCode: run.exitCode }, run.stdout + run.stderr).toEqual({ prefix, exitCode: 0 })
    }
    await addRows(url, INSTANCES)
    const before = { contents: await contents(url), histories: await historyRows(url, INSTANCES) }

    const run = await runPrisma(['migrate', 'reset', '--force'], { configFile: moduleConfig, env: sharedEnv(url, 'storage_elem_02') })
    const output = run.stdout + run.stderr
    expect(run.exitCode, output).toBe(1)
    expect(refusalLine(output), output).toContain('reset refused for storage-element instance storage_elem_02: it shares schema "public"')
    expect({ contents: await contents(url), histories: await historyRows(url, INSTANCES) }).toEqual(before)

    // The way the refusal names empties instance 02 alone: its tables and history rows go, nothing else.
    const named = /To empty this instance alone: STORAGE_ELEMENT_LAYOUT=shared npx artstore-db (rollback [^,]+), then npx artstore-db (deploy .+)$/.exec(
      refusalLine(output)!,
    )
    expect(named?.slice(1)).toEqual([
      'rollback --module storage-element --prefix storage_elem_02 --all --yes',
      'deploy --module storage-element --prefix storage_elem_02',
    ])
    for (const args of named!.slice(1)) {
      const step = await runCli(args.split(' '), sharedEnv(url, 'storage_elem_02'))
      expect({ args, exitCode: step.exitCode }, step.stdout + step.stderr).toEqual({ args, exitCode: 0 })
    }
    const after = await contents(url)
    const untouched = (c: Record<string, number>) => Object.fromEntries(Object.entries(c).filter(([t]) => !/storage_elem_02/.test(t)))
    expect(untouched(after)).toEqual(untouched(before.contents))
    expect(after['public.storage_elem_02_config']).toBe(0)
    expect((await historyRows(url, ['storage_elem_03'])).storage_elem_03).toEqual(before.histories.storage_elem_03)
  })

  test("a URL without artstore_history: the engine's reset empties the URL's schema, a table of an app's in it too, and leaves every other schema alone", async () => {
    const url = await freshDatabase('bridge_reset_plain')
    const configFile = project('bridge-reset-plain')
    const env = { BRIDGE_TEST_URL: `${url}?schema=storage_element`, STORAGE_ELEMENT_PREFIX: 'storage_elem_02' }
    const deploy = await runPrisma(['migrate', 'deploy'], { configFile, env })
    expect(deploy.exitCode, deploy.stdout + deploy.stderr).toBe(0)
    await query(
      url,
      `insert into storage_element.storage_elem_02_config (current_mode, is_master, total_files, total_size_bytes) values ('edit', true, 7, 700)`,
    )
    await query(url, `create table storage_element.app_notes (id int); insert into storage_element.app_notes values (1)`)
    await query(url, `create schema other; create table other.keep (id int); insert into other.keep values (1), (2)`)

    const run = await runPrisma(['migrate', 'reset', '--force'], { configFile, env })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const after = await contents(url)
    expect(after).not.toHaveProperty(['storage_element.app_notes'])
    expect(after).toMatchObject({ 'storage_element.storage_elem_02_config': 0, 'storage_element._prisma_migrations': 1, 'other.keep': 2 })
  })
})
