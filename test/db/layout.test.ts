// The storage elements' layout: a history that is another instance's (the services keep every instance
// in one schema) or sits where the other layout keeps it is named as such, with STORAGE_ELEMENT_LAYOUT,
// by every command that reads a history, and never called "modified"; an instances file defaults to
// the layout a single command does.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { scratchRoot } from '../helpers/workdir.ts'

const SE = ['--module', 'storage-element']
const READERS: [string, string[]][] = [
  ['deploy', ['deploy']],
  ['status', ['status']],
  ['verify', ['verify']],
  ['adopt', ['adopt', '--dry-run']],
  ['rollback', ['rollback', '--all', '--yes']],
  ['resolve', ['resolve', '--rolled-back', '0_baseline']],
]
const historyIn = async (url: string, schema: string) =>
  (await query<{ t: string | null }>(url, `select to_regclass($1)::text as t`, [`${schema}._prisma_migrations`]))[0].t !== null
const rowsOf = async (url: string, schema: string) =>
  query<{ m: string; c: string }>(url, `select migration_name as m, checksum as c from ${schema}._prisma_migrations order by started_at`)
const tablesOf = async (url: string) =>
  (await query<{ t: string }>(url, `select tablename as t from pg_tables where schemaname = 'public' order by 1`)).map((r) => r.t)

describe("instance 02 without the shared layout finds instance 01's history in public", () => {
  let url: string
  beforeAll(async () => {
    url = await freshDatabase('layout_foreign')
  })
  afterAll(async () => {
    await dropDatabase('layout_foreign')
  })
  const env = () => ({ STORAGE_ELEMENT_DATABASE_URL: `${url}?schema=public` })

  test('attack: deploy said "migration.sql changed", status "modified", verify a checksum mismatch, adopt "find out who changed it"; now every reader gives one line naming STORAGE_ELEMENT_LAYOUT=shared (exit 2), nothing changed', async () => {
    const first = await runCli(['deploy', ...SE], env())
    expect(first.exitCode, first.stderr).toBe(0)
    const before = await rowsOf(url, 'public')
    expect(before.map((r) => r.m)).toEqual(['0_baseline'])
    const line =
      'error: storage-element instance storage_elem_02: public._prisma_migrations is instance storage_elem_01\'s history, not this instance\'s (its 0_baseline is rendered for storage_elem_01): the services keep every instance in one schema, each history in artstore_<prefix>; run it in the shared layout (an instances file: "layout": "shared"): STORAGE_ELEMENT_LAYOUT=shared npx artstore-db status --module storage-element --prefix storage_elem_02'
    for (const [name, args] of READERS) {
      const run = await runCli([...args, ...SE, '--prefix', 'storage_elem_02'], env())
      expect({ name, exitCode: run.exitCode, stderr: run.stderr.trim() }, run.stdout).toEqual({ name, exitCode: 2, stderr: line })
      expect(run.stdout + run.stderr).not.toMatch(/modified|changed since|checksum|who changed/)
    }
    expect(await rowsOf(url, 'public')).toEqual(before)
    expect(await tablesOf(url)).toEqual(['_prisma_migrations', 'storage_elem_01_config', 'storage_elem_01_files', 'storage_elem_01_wal'])
    // The same history read by its own instance is fine.
    expect((await runCli(['status', ...SE], env())).exitCode).toBe(0)
  })

  test('a fleet row says the same; an instance that was changed by hand is still "modified"', async () => {
    const f = path.join(scratchRoot, 'layout', 'two-schema.json')
    fs.mkdirSync(path.dirname(f), { recursive: true })
    fs.writeFileSync(f, JSON.stringify({ instances: [{ name: 'se-02', url: `${url}?schema=public`, prefix: 'storage_elem_02' }] }))
    const run = await runCli(['status', '--instances', f], {})
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain(
      "❌ se-02 (storage_elem_02): storage-element instance storage_elem_02: public._prisma_migrations is instance storage_elem_01's history",
    )
    const [{ c: kept }] = await rowsOf(url, 'public')
    await query(url, `update public._prisma_migrations set checksum = repeat('a', 64) where migration_name = '0_baseline'`)
    try {
      const changed = await runCli(['status', ...SE, '--json'], env())
      expect(JSON.parse(changed.stdout)[0]).toMatchObject({ state: 'modified', modified: ['0_baseline'] })
    } finally {
      await query(url, `update public._prisma_migrations set checksum = $1 where migration_name = '0_baseline'`, [kept])
    }
  })

  test('the way out README describes: the schema-layout history moved to artstore_<prefix>, then every instance in the shared layout', async () => {
    const shared = { ...env(), STORAGE_ELEMENT_LAYOUT: 'shared' }
    // In the shared layout the schema-layout history in public is named too, for 02 as for 01 itself.
    const two = await runCli(['deploy', ...SE, '--prefix', 'storage_elem_02'], shared)
    expect(two.exitCode).toBe(2)
    expect(two.stderr).toContain("public._prisma_migrations is instance storage_elem_01's history")
    const one = await runCli(['status', ...SE], shared)
    expect(one.exitCode).toBe(2)
    expect(one.stderr.trim()).toBe(
      'error: storage-element instance storage_elem_01: its history is public._prisma_migrations, where the schema layout keeps it, not artstore_storage_elem_01: it was deployed in the schema layout; run it in the schema layout (an instances file: "layout": "schema"): STORAGE_ELEMENT_LAYOUT=schema npx artstore-db status --module storage-element --prefix storage_elem_01',
    )
    await query(url, 'create schema artstore_storage_elem_01; alter table public._prisma_migrations set schema artstore_storage_elem_01')
    expect((await runCli(['status', ...SE], shared)).exitCode).toBe(0)
    const deployed = await runCli(['deploy', ...SE, '--prefix', 'storage_elem_02'], shared)
    expect(deployed.exitCode, deployed.stderr).toBe(0)
    expect((await runCli(['verify', ...SE, '--prefix', 'storage_elem_02'], shared)).exitCode).toBe(0)
    expect((await runCli(['verify', ...SE], shared)).exitCode).toBe(0)
  })
})

describe('an instance deployed in the shared layout, run without it', () => {
  let url: string
  beforeAll(async () => {
    url = await freshDatabase('layout_shared')
  })
  afterAll(async () => {
    await dropDatabase('layout_shared')
  })

  test('attack: deploy without STORAGE_ELEMENT_LAYOUT=shared found no history in public and tried the baseline again on its tables (exit 1); now each reader names the shared layout (exit 2), nothing changed', async () => {
    const deployed = await runCli(['deploy', ...SE, '--prefix', 'storage_elem_02'], { STORAGE_ELEMENT_DATABASE_URL: url, STORAGE_ELEMENT_LAYOUT: 'shared' })
    expect(deployed.exitCode, deployed.stderr).toBe(0)
    const line =
      'error: storage-element instance storage_elem_02: its history is artstore_storage_elem_02._prisma_migrations, where the shared layout keeps it, and public has none: it was deployed in the shared layout (the services keep every instance in one schema); run it in the shared layout (an instances file: "layout": "shared"): STORAGE_ELEMENT_LAYOUT=shared npx artstore-db status --module storage-element --prefix storage_elem_02'
    for (const [name, args] of READERS) {
      const run = await runCli([...args, ...SE, '--prefix', 'storage_elem_02'], { STORAGE_ELEMENT_DATABASE_URL: url })
      expect({ name, exitCode: run.exitCode, stderr: run.stderr.trim() }, run.stdout).toEqual({ name, exitCode: 2, stderr: line })
    }
    expect(await historyIn(url, 'public')).toBe(false)
    expect((await rowsOf(url, 'artstore_storage_elem_02')).map((r) => r.m)).toEqual(['0_baseline'])
  })
})

describe("an instances file's default layout is a single command's", () => {
  let url: string
  beforeAll(async () => {
    url = await freshDatabase('layout_default')
  })
  afterAll(async () => {
    await dropDatabase('layout_default')
  })

  // Each in a schema of its own: the layouts of one schema's instances must agree.
  test('an entry without "layout" is deployed where deploy --module storage-element puts it: the schema layout, or STORAGE_ELEMENT_LAYOUT, or the file\'s "layout"', async () => {
    const dir = path.join(scratchRoot, 'layout')
    fs.mkdirSync(dir, { recursive: true })
    const write = (name: string, top: Record<string, unknown>, prefix: string) => {
      const f = path.join(dir, `${name}.json`)
      fs.writeFileSync(f, JSON.stringify({ ...top, instances: [{ name: 'se', urlEnv: 'SE_URL', prefix }] }))
      return f
    }
    const plain = await runCli(['deploy', '--instances', write('plain', {}, 'storage_elem_01')], { SE_URL: url })
    expect(plain.exitCode, plain.stdout + plain.stderr).toBe(0)
    expect(await historyIn(url, 'public')).toBe(true)
    expect(await historyIn(url, 'artstore_storage_elem_01')).toBe(false)
    const byVariable = await runCli(['deploy', '--instances', write('variable', {}, 'storage_elem_05')], {
      SE_URL: `${url}?schema=by_variable`,
      STORAGE_ELEMENT_LAYOUT: 'shared',
    })
    expect(byVariable.exitCode, byVariable.stdout + byVariable.stderr).toBe(0)
    expect(await historyIn(url, 'artstore_storage_elem_05')).toBe(true)
    const byFile = await runCli(['deploy', '--instances', write('file', { layout: 'shared' }, 'storage_elem_06')], { SE_URL: `${url}?schema=by_file` })
    expect(byFile.exitCode, byFile.stdout + byFile.stderr).toBe(0)
    expect(await historyIn(url, 'artstore_storage_elem_06')).toBe(true)
    expect((await rowsOf(url, 'public')).map((r) => r.m)).toEqual(['0_baseline'])
  })
})
