// Storage-element instances side by side in one schema (the shared layout), deployed and resolved by the
// real Prisma CLI through the bridge: each instance's `_prisma_migrations` is made in its history schema
// (the URL's `artstore_history`), as `artstore-db deploy` makes it, never in the tables' schema, where a
// second instance would find the first's history. `artstore-db status` then reads each one's own.
import { describe, expect, test } from 'vitest'
import { runPrisma } from '../../src/prisma/run.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { instanceProject } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()

const historyOf = (prefix: string) => `artstore_${prefix}`

/** Every `_prisma_migrations` of the database, by schema. */
const histories = async (url: string) =>
  (
    await query<{ schema: string }>(
      url,
      `select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relname = '_prisma_migrations' and c.relkind = 'r' order by 1`,
    )
  ).map((r) => r.schema)

/** The URL the bridge gets for an instance in the shared layout: its tables in `tables`, its history in artstore_<prefix>. */
function instanceUrl(url: string, tables: string, prefix: string): string {
  const u = new URL(url)
  u.searchParams.set('schema', tables)
  u.searchParams.set('artstore_history', historyOf(prefix))
  return u.toString()
}

const deployInstance = (configFile: string, url: string, tables: string, prefix: string) =>
  runPrisma(['migrate', 'deploy'], { configFile, env: { BRIDGE_TEST_URL: instanceUrl(url, tables, prefix), STORAGE_ELEMENT_PREFIX: prefix } })

/** The tables of a schema, `_prisma_migrations` included. */
const tablesOf = async (url: string, schema: string) =>
  (await query<{ t: string }>(url, `select tablename as t from pg_tables where schemaname = $1 order by 1`, [schema])).map((r) => r.t)

const rowsOf = async (url: string, schema: string) =>
  query<{ name: string; finished: boolean; checksum: string }>(
    url,
    `select migration_name as name, finished_at is not null as finished, checksum from "${schema}"._prisma_migrations order by started_at, migration_name`,
  )

describe('prisma CLI through the bridge, storage-element instances in one shared schema', () => {
  test('migrate deploy of two instances in public: each history in its own history schema with its own rows, none in public; status up to date for each', async () => {
    const url = await freshDatabase('bridge_history_deploy')
    const { prismaDir, configFile } = instanceProject('bridge-history-deploy')
    const instances = ['storage_elem_02', 'storage_elem_03']
    for (const prefix of instances) {
      const run = await deployInstance(configFile, url, 'public', prefix)
      expect({ prefix, exitCode: run.exitCode }, run.stdout + run.stderr).toEqual({ prefix, exitCode: 0 })
    }
    expect(await histories(url)).toEqual(instances.map(historyOf))
    const [a, b] = [await rowsOf(url, historyOf(instances[0])), await rowsOf(url, historyOf(instances[1]))]
    expect(a.map((r) => [r.name, r.finished])).toEqual([['0_baseline', true]])
    expect(b.map((r) => [r.name, r.finished])).toEqual([['0_baseline', true]])
    // Each its own 0_baseline: rendered for its own prefix.
    expect(a[0].checksum).not.toBe(b[0].checksum)
    const tables = await tablesOf(url, 'public')
    expect(tables).not.toContain('_prisma_migrations')
    expect(tables.filter((t) => t.endsWith('_files'))).toEqual(instances.map((p) => `${p}_files`))
    for (const prefix of instances) {
      expect(await tablesOf(url, historyOf(prefix))).toEqual(['_prisma_migrations'])
      const status = await runCli(['status', '--module', 'storage-element', '--prefix', prefix, '--json'], {
        STORAGE_ELEMENT_DATABASE_URL: `${url}?schema=public`,
        STORAGE_ELEMENT_LAYOUT: 'shared',
        ARTSTORE_PRISMA_DIR: prismaDir,
      })
      expect({ prefix, exitCode: status.exitCode }, status.stdout + status.stderr).toEqual({ prefix, exitCode: 0 })
      const [report] = JSON.parse(status.stdout) as { state: string; historySchema: string; applied: string[] }[]
      expect(report).toMatchObject({ state: 'up-to-date', historySchema: historyOf(prefix), applied: ['0_baseline'] })
    }
  })

  test('migrate deploy into a tables schema not made yet: it is made, and gets the tables; the history schema only the history', async () => {
    const url = await freshDatabase('bridge_history_new_schema')
    const { configFile } = instanceProject('bridge-history-new-schema')
    const prefix = 'storage_elem_02'
    const run = await deployInstance(configFile, url, 'services', prefix)
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await histories(url)).toEqual([historyOf(prefix)])
    expect(await tablesOf(url, historyOf(prefix))).toEqual(['_prisma_migrations'])
    expect((await tablesOf(url, 'services')).filter((t) => t.startsWith(prefix))).toEqual([`${prefix}_config`, `${prefix}_files`, `${prefix}_wal`])
  })

  test('migrate resolve --applied of an instance never deployed: its row in its history schema, none in public', async () => {
    const url = await freshDatabase('bridge_history_resolve')
    const { configFile } = instanceProject('bridge-history-resolve')
    const prefix = 'storage_elem_04'
    const run = await runPrisma(['migrate', 'resolve', '--applied', '0_baseline'], {
      configFile,
      env: { BRIDGE_TEST_URL: instanceUrl(url, 'public', prefix), STORAGE_ELEMENT_PREFIX: prefix },
    })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await histories(url)).toEqual([historyOf(prefix)])
    expect((await rowsOf(url, historyOf(prefix))).map((r) => [r.name, r.finished])).toEqual([['0_baseline', true]])
  })
})
