// `prisma migrate reset` through the bridge. A storage-element instance in the shared layout (its tables
// beside the other instances' and the services' in one schema, its history in artstore_<prefix>) is
// never reset: the bridge refuses the engine's reset, and every table, row and history row stays. The
// storage element's own prisma.config.ts puts an instance in that layout with STORAGE_ELEMENT_LAYOUT=shared,
// as the artstore-db commands do. Any other URL is reset by the engine (its schema emptied, others untouched)
// only when the schema holds nothing but the module's relations, or with ARTSTORE_ALLOW_RESET=1: an app's
// table or another instance's refuses it, and nothing changes.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { modules, projectRoot } from '../../src/modules.ts'
import { runPrisma } from '../../src/prisma/run.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir, instanceProject } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()

const historyOf = (prefix: string) => `artstore_${prefix}`
const INSTANCES = ['storage_elem_02', 'storage_elem_03']

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

/** The reset guard's refusal, on one line of Prisma's output. */
const foreignLine = (output: string) => output.split('\n').find((l) => l.includes('reset refused: schema'))

/** The views of a schema. */
const viewsOf = async (url: string, schema: string) =>
  (await query<{ v: string }>(url, `select viewname as v from pg_views where schemaname = $1 order by 1`, [schema])).map((r) => r.v)

/**
 * Instance storage_elem_02 deployed with a plain URL (`?schema=storage_element`, no artstore_history), a
 * row in its config table, a table of an app's beside it (unless `app: false`) and a schema `other`.
 */
async function plainInstance(url: string, configFile: string, opts: { app?: boolean } = {}) {
  const env = { BRIDGE_TEST_URL: `${url}?schema=storage_element`, STORAGE_ELEMENT_PREFIX: 'storage_elem_02' }
  const deploy = await runPrisma(['migrate', 'deploy'], { configFile, env })
  expect(deploy.exitCode, deploy.stdout + deploy.stderr).toBe(0)
  await query(url, `insert into storage_element.storage_elem_02_config (current_mode, is_master, total_files, total_size_bytes) values ('edit', true, 7, 700)`)
  if (opts.app !== false) await query(url, `create table storage_element.app_notes (id int); insert into storage_element.app_notes values (1)`)
  await query(url, `create schema other; create table other.keep (id int); insert into other.keep values (1), (2)`)
  return { configFile, env }
}

/** Both instances deployed into `public` by `prisma migrate deploy` through the bridge (shared layout), with their rows. */
async function deployInstancesWithRows(url: string, configFile: string): Promise<void> {
  for (const prefix of INSTANCES) {
    const run = await runPrisma(['migrate', 'deploy'], {
      configFile,
      env: { BRIDGE_TEST_URL: instanceUrl(url, 'public', prefix), STORAGE_ELEMENT_PREFIX: prefix },
    })
    expect({ prefix, exitCode: run.exitCode }, run.stdout + run.stderr).toEqual({ prefix, exitCode: 0 })
  }
  await addRows(url, INSTANCES)
}

describe('prisma migrate reset through the bridge', () => {
  test('shared layout (URL with artstore_history): refused with one line naming rollback --all for the instance; every table, row and history row stays', async () => {
    const url = await freshDatabase('bridge_reset_shared')
    const { configFile } = instanceProject('bridge-reset-shared')
    await deployInstancesWithRows(url, configFile)
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

  test("a URL without artstore_history, an app's table and view beside the instance's tables: refused with one line naming them and ARTSTORE_ALLOW_RESET; every table and row stays", async () => {
    const url = await freshDatabase('bridge_reset_plain')
    const { configFile, env } = await plainInstance(url, instanceProject('bridge-reset-plain').configFile)
    await query(url, `create view storage_element.app_summary as select count(*) as n from storage_element.app_notes`)
    const before = await contents(url)
    expect(before).toMatchObject({ 'storage_element.storage_elem_02_config': 1, 'storage_element.app_notes': 1, 'other.keep': 2 })

    const run = await runPrisma(['migrate', 'reset', '--force'], { configFile, env })
    const output = run.stdout + run.stderr
    expect(run.exitCode, output).toBe(1)
    expect(foreignLine(output), output).toBe(
      'Error: reset refused: schema "storage_element" holds 2 relations that are not storage-element instance storage_elem_02\'s, which the reset would drop: app_notes, app_summary (view); nothing was changed. Drop or move them yourself, or, to drop them with the reset, run the command again with ARTSTORE_ALLOW_RESET=1',
    )
    expect(output).not.toContain('Database reset successful')
    expect(await contents(url)).toEqual(before)
    expect(await viewsOf(url, 'storage_element')).toEqual(['app_summary'])
  })

  test("the same with ARTSTORE_ALLOW_RESET=1: the engine's reset empties the URL's schema, the app's table too, and leaves every other schema alone", async () => {
    const url = await freshDatabase('bridge_reset_allowed')
    const { configFile, env } = await plainInstance(url, instanceProject('bridge-reset-allowed').configFile)
    const run = await runPrisma(['migrate', 'reset', '--force'], { configFile, env: { ...env, ARTSTORE_ALLOW_RESET: '1' } })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const after = await contents(url)
    expect(after).not.toHaveProperty(['storage_element.app_notes'])
    expect(after).toMatchObject({ 'storage_element.storage_elem_02_config': 0, 'storage_element._prisma_migrations': 1, 'other.keep': 2 })
  })

  test("a schema holding only the instance's tables (and another schema beside it): reset runs as before, its rows gone, the history replayed", async () => {
    const url = await freshDatabase('bridge_reset_own')
    const { configFile, env } = await plainInstance(url, instanceProject('bridge-reset-own').configFile, { app: false })
    expect(await contents(url)).toMatchObject({ 'storage_element.storage_elem_02_config': 1, 'other.keep': 2 })
    const run = await runPrisma(['migrate', 'reset', '--force'], { configFile, env })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.stdout + run.stderr).toContain('Database reset successful')
    const after = await contents(url)
    expect(Object.keys(after).filter((t) => t.startsWith('storage_element.') && !t.startsWith('storage_element.storage_elem_02_'))).toEqual([
      'storage_element._prisma_migrations',
    ])
    expect(after).toMatchObject({ 'storage_element.storage_elem_02_config': 0, 'storage_element._prisma_migrations': 1, 'other.keep': 2 })
  })

  test("two instances in one schema, reset with a plain URL for one (no STORAGE_ELEMENT_LAYOUT): refused naming the other's tables; no table, row or history row of any instance changes", async () => {
    const url = await freshDatabase('bridge_reset_two')
    const { configFile } = instanceProject('bridge-reset-two')
    await deployInstancesWithRows(url, configFile)
    // More of the services' own than the line names: it names five and counts the rest.
    await query(url, `create table public.service_audit (id int); create view public.service_counts as select count(*) as n from public.service_notes`)
    const before = { contents: await contents(url), histories: await historyRows(url, INSTANCES) }
    // Every relation of public but instance 02's and the history: instance 03's tables (and views), the services' table.
    const foreign = (
      await query<{ name: string; kind: string }>(
        url,
        `select c.relname as name, c.relkind as kind from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm') and c.relname !~ '^storage_elem_02_' and c.relname <> '_prisma_migrations' order by 1`,
      )
    ).map((r) => (r.kind === 'v' ? `${r.name} (view)` : r.kind === 'm' ? `${r.name} (materialized view)` : r.name))
    expect(foreign.filter((r) => r.startsWith('storage_elem_03_')).length).toBeGreaterThan(0)
    expect(foreign).toEqual(expect.arrayContaining(['service_audit', 'service_counts (view)', 'service_notes', 'storage_elem_03_config']))
    expect(foreign.length).toBeGreaterThan(5)

    const run = await runPrisma(['migrate', 'reset', '--force'], {
      configFile,
      env: { BRIDGE_TEST_URL: `${url}?schema=public`, STORAGE_ELEMENT_PREFIX: 'storage_elem_02' },
    })
    const output = run.stdout + run.stderr
    expect(run.exitCode, output).toBe(1)
    expect(foreignLine(output), output).toBe(
      `Error: reset refused: schema "public" holds ${foreign.length} relations that are not storage-element instance storage_elem_02's, which the reset would drop: ${foreign.slice(0, 5).join(', ')} and ${foreign.length - 5} more; nothing was changed. Drop or move them yourself, or, to drop them with the reset, run the command again with ARTSTORE_ALLOW_RESET=1`,
    )
    expect(output).not.toContain('Database reset successful')
    expect({ contents: await contents(url), histories: await historyRows(url, INSTANCES) }).toEqual(before)
  })

  test("a folder that is no module's: db push --force-reset is refused while the schema holds a table its schema file and migrations do not create, and runs once it holds only theirs", async () => {
    const url = await freshDatabase('bridge_reset_app')
    const dir = path.join(path.dirname(copyPrismaDir('bridge-reset-app', { at: 'baseline' })), 'notes-app')
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(
      path.join(dir, 'schema.prisma'),
      `datasource db {\n  provider = "postgresql"\n}\n\nmodel Note {\n  id   Int    @id\n  body String\n\n  @@map("notes")\n}\n`,
    )
    const configFile = path.join(dir, 'prisma.config.ts')
    fs.writeFileSync(
      configFile,
      `import { defineConfig } from 'prisma/config'\nexport default defineConfig({ schema: ${JSON.stringify(path.join(dir, 'schema.prisma'))}, datasource: { url: process.env.BRIDGE_TEST_URL } })\n`,
    )
    const env = { BRIDGE_TEST_URL: `${url}?schema=app`, STORAGE_ELEMENT_PREFIX: undefined }
    const push = await runPrisma(['db', 'push'], { configFile, env })
    expect(push.exitCode, push.stdout + push.stderr).toBe(0)
    await query(url, `insert into app.notes values (1, 'kept'), (2, 'kept too')`)
    await query(url, `create table app.hand_made (id int); insert into app.hand_made values (1)`)
    const before = await contents(url)
    expect(before).toEqual({ 'app.notes': 2, 'app.hand_made': 1 })

    const refused = await runPrisma(['db', 'push', '--force-reset'], { configFile, env })
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(1)
    expect(foreignLine(refused.stdout + refused.stderr)).toBe(
      `Error: reset refused: schema "app" holds 1 relation that neither the schema file nor the migrations in ${path.relative(projectRoot, path.join(dir, 'migrations'))} create, which the reset would drop: hand_made; nothing was changed. Drop or move it yourself, or, to drop it with the reset, run the command again with ARTSTORE_ALLOW_RESET=1`,
    )
    expect(await contents(url)).toEqual(before)

    await query(url, `drop table app.hand_made`)
    const reset = await runPrisma(['db', 'push', '--force-reset'], { configFile, env })
    expect(reset.exitCode, reset.stdout + reset.stderr).toBe(0)
    expect(await contents(url)).toEqual({ 'app.notes': 0 })
  })
})
