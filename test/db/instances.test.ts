// Storage elements as the services run them: three instances side by side in one schema (public),
// told apart by prefix, each with a history of its own (STORAGE_ELEMENT_LAYOUT=shared): deployed,
// checked and rolled back independently; and the services' real shared database adopted instance by
// instance (01 made by Alembic, 02 and 03 by create_all()).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { projectRoot } from '../../src/modules.ts'
import { adopt } from '../../src/adopt/adopt.ts'
import { cycle } from '../../src/cycle/cycle.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { status } from '../../src/status/status.ts'
import { verify } from '../../src/verify/verify.ts'
import { failingChecks } from '../helpers/checks.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { loadServicesSharedDatabase } from '../helpers/legacy.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

let url: string
const PREFIXES = ['storage_elem_01', 'storage_elem_02', 'storage_elem_03']
// The module folders as 0_baseline left them: the histories below are ['0_baseline'] whatever comes after it.
const prismaDir = copyPrismaDir('instances', { at: 'baseline' })
const env = () => ({ STORAGE_ELEMENT_DATABASE_URL: url, STORAGE_ELEMENT_LAYOUT: 'shared', ARTSTORE_PRISMA_DIR: prismaDir })
const opts = (prefix: string) => ({ module: 'storage-element', prefix, env: env() })
const tablesIn = async (schema: string) =>
  (await query<{ t: string }>(url, `select tablename as t from pg_tables where schemaname = $1 order by 1`, [schema])).map((r) => r.t)
const rows = async (prefix: string) => Number((await query<{ n: string }>(url, `select count(*) as n from public.${prefix}_files`))[0].n)
const history = async (prefix: string) =>
  (await query<{ m: string }>(url, `select migration_name as m from artstore_${prefix}._prisma_migrations order by started_at`)).map((r) => r.m)

beforeAll(async () => {
  url = await freshDatabase('instances')
})
afterAll(async () => {
  await dropDatabase('instances')
})

async function addRows(prefix: string, n: number) {
  await query(
    url,
    `insert into public.${prefix}_files (file_id, original_filename, storage_filename, file_size, content_type, created_by_id, created_by_username, storage_path, checksum)
     select gen_random_uuid(), 'f' || g || '.txt', '${prefix}_s' || g, g, 'text/plain', 'u1', 'alice', '2025/01/01/00/', repeat('0', 64) from generate_series(1, ${n}) g`,
  )
}

describe('rendering an instance leaves nothing behind', () => {
  test('attack: a read-only status --prefix wrote .artstore/instances/<prefix>; now the rendering is private to the command and gone after it', async () => {
    const prefix = `zz_ro_${process.pid}`
    const rendered = () =>
      fs
        .readdirSync(os.tmpdir())
        .filter((d) => d.startsWith('artstore-instances-'))
        .flatMap((d) => {
          try {
            return fs.readdirSync(path.join(os.tmpdir(), d)).filter((e) => e.startsWith(`${prefix}-`))
          } catch {
            return [] // another command's folder, removed meanwhile
          }
        })
    const run = await runCli(['status', '--module', 'storage-element', '--prefix', prefix, '--json'], env())
    expect(JSON.parse(run.stdout)[0], run.stderr).toMatchObject({ prefix, state: 'pending', pending: ['0_baseline'] })
    expect(fs.existsSync(path.join(projectRoot, '.artstore', 'instances', prefix))).toBe(false)
    expect(rendered()).toEqual([])
  })
})

describe('three instances in public', () => {
  test('each deploys on its own (the second is not "up to date" because the first is): tables side by side, histories apart', async () => {
    for (const prefix of PREFIXES) {
      const [r] = await deploy(opts(prefix))
      expect(r.status, r.detail).toBe('applied')
      expect(r.migrations).toEqual(['0_baseline'])
      expect(r.pgSchema).toBe('public')
    }
    expect(await tablesIn('public')).toEqual(PREFIXES.flatMap((p) => [`${p}_config`, `${p}_files`, `${p}_wal`]))
    for (const prefix of PREFIXES) expect(await history(prefix)).toEqual(['0_baseline'])
    for (const [i, prefix] of PREFIXES.entries()) await addRows(prefix, 3 + i)
  })

  test("status and verify of each are green: the others' tables and functions are foreign, never drift", async () => {
    for (const prefix of PREFIXES) {
      expect((await status(opts(prefix)))[0].state).toBe('up-to-date')
      const [report] = await verify(opts(prefix))
      expect(failingChecks(report)).toEqual([])
      expect(report.items.filter((i) => i.category === 'foreign').map((i) => i.name.split(':')[0])).toHaveLength(6)
    }
  })

  test('rolling back 02 leaves 01 and 03, their rows and their histories untouched; 02 deploys again', async () => {
    const before = { one: await rows('storage_elem_01'), three: await rows('storage_elem_03') }
    const back = await rollback({ ...opts('storage_elem_02'), all: true, yes: true })
    expect(back.migrations).toEqual(['0_baseline'])
    expect(await tablesIn('public')).toEqual([
      'storage_elem_01_config',
      'storage_elem_01_files',
      'storage_elem_01_wal',
      'storage_elem_03_config',
      'storage_elem_03_files',
      'storage_elem_03_wal',
    ])
    expect({ one: await rows('storage_elem_01'), three: await rows('storage_elem_03') }).toEqual(before)
    expect(await history('storage_elem_01')).toEqual(['0_baseline'])
    expect(await history('storage_elem_03')).toEqual(['0_baseline'])
    expect(await history('storage_elem_02')).toEqual([])
    const functions = await query<{ f: string }>(url, `select proname as f from pg_proc where pronamespace = 'public'::regnamespace order by 1`)
    expect(functions.map((r) => r.f)).toEqual(['storage_elem_01_files_search_vector_update', 'storage_elem_03_files_search_vector_update'])
    expect((await deploy(opts('storage_elem_02')))[0].status).toBe('applied')
    expect((await verify(opts('storage_elem_02')))[0].ok).toBe(true)
  })

  test('the up → down → up cycle of one instance in the shared layout, on a scratch database', async () => {
    const [r] = await cycle(opts('storage_elem_02'))
    expect(r.steps.filter((x) => !x.ok)).toEqual([])
    expect(r.ok).toBe(true)
  })

  test('through the command line: a fourth instance deploys beside them; an unknown layout is bad input', async () => {
    const run = await runCli(['deploy', '--module', 'storage-element', '--prefix', 'storage_elem_04'], env())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/✅ storage-element: applied: 0_baseline/)
    expect(await tablesIn('public')).toContain('storage_elem_04_files')
    const bad = await runCli(['status', '--module', 'storage-element'], { ...env(), STORAGE_ELEMENT_LAYOUT: 'side-by-side' })
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr.trim()).toBe(
      'error: storage-element layout "side-by-side" is not one of schema, shared: set STORAGE_ELEMENT_LAYOUT to shared (instances side by side in one schema) or schema (one schema per instance, the default)',
    )
  })
})

describe("adopting the services' real shared database", () => {
  let legacy: string
  const lenv = () => ({ STORAGE_ELEMENT_DATABASE_URL: legacy, STORAGE_ELEMENT_LAYOUT: 'shared', ARTSTORE_PRISMA_DIR: prismaDir })
  const fingerprint = async (prefix: string) =>
    (
      await query<{ n: string; h: string }>(
        legacy,
        `select count(*) as n, md5(coalesce(string_agg(t::text, '|' order by t.file_id), '')) as h from public.${prefix}_files t`,
      )
    )[0]

  beforeAll(async () => {
    legacy = await freshDatabase('instances_legacy')
    await loadServicesSharedDatabase(legacy)
  })
  afterAll(async () => {
    await dropDatabase('instances_legacy')
  })

  test('each instance is adopted in place with its proof, its version table retired, the others untouched; then deploy, status and verify are green', async () => {
    for (const prefix of ['storage_elem_01', 'storage_elem_02', 'storage_elem_03']) {
      const others = ['storage_elem_01', 'storage_elem_02', 'storage_elem_03'].filter((p) => p !== prefix)
      const othersBefore = await Promise.all(others.map(fingerprint))
      const mine = await fingerprint(prefix)
      expect(Number(mine.n)).toBeGreaterThan(0)
      const [report] = await adopt({ module: 'storage-element', prefix, env: lenv(), yes: true })
      expect(report.status, JSON.stringify(report.failedChecks)).toBe('adopted')
      expect(report.proof.every((p) => p.ok)).toBe(true)
      expect(report.classification.kind).toBe(prefix === 'storage_elem_01' ? 'legacy' : 'unknown')
      expect(await Promise.all(others.map(fingerprint))).toEqual(othersBefore)
      expect(await fingerprint(prefix)).toEqual(mine)
      expect((await query(legacy, `select migration_name from artstore_${prefix}._prisma_migrations`)).map((r) => r.migration_name)).toEqual(['0_baseline'])
    }
    expect(await query(legacy, `select to_regclass('public.storage_elem_01_alembic_version') as t, to_regclass('public._prisma_migrations') as h`)).toEqual([
      { t: null, h: null },
    ])
    for (const prefix of ['storage_elem_01', 'storage_elem_02', 'storage_elem_03']) {
      const o = { module: 'storage-element', prefix, env: lenv() }
      expect((await deploy(o))[0].status).toBe('up-to-date')
      expect((await status(o))[0].state).toBe('up-to-date')
      const [report] = await verify(o)
      expect(failingChecks(report)).toEqual([])
    }
  })
})
