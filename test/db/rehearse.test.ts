// Issue 20 What-to-build 4: `rehearse` runs the pending migrations on a copy of the target's rows in a
// scratch database (applied, stepped back with down.sql, applied again) and reports each table's rows
// and content hash after every step; the target is only read. The migrations are written here, in
// scratch copies of the module folders, so nothing depends on the committed schemas' content.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { fingerprints } from '../../src/adopt/proof.ts'
import { readCatalog } from '../../src/catalog/read.ts'
import type { RehearseResult } from '../../src/rehearse/rehearse.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query, urlFor } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

let url: string
let prismaDir: string
const env = (extra: Record<string, string> = {}) => ({ ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir, ...extra })
const written: string[] = []

/** Writes a later migration of `module` into the scratch copy (removed after the test). */
function pending(name: string, up: string, down?: string, module = 'admin'): void {
  const dir = path.join(prismaDir, module, 'migrations', name)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'migration.sql'), up)
  if (down !== undefined) fs.writeFileSync(path.join(dir, 'down.sql'), down)
  written.push(dir)
}

/**
 * Everything a rehearsal could change on the target: the catalog of every schema but the system's,
 * the row count and content hash of every table (the history's included), and the database's schemas.
 */
async function targetProof(database: string): Promise<unknown> {
  const c = new pg.Client({ connectionString: urlFor(database) })
  await c.connect()
  try {
    const { rows } = await c.query<{ nspname: string }>(
      `select nspname from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema' order by 1`,
    )
    const out: Record<string, unknown> = {}
    for (const { nspname } of rows) {
      const cat = await readCatalog(c, nspname)
      out[nspname] = { catalog: cat, rows: Object.fromEntries(await fingerprints(c, nspname, cat.tables)) }
    }
    return out
  } finally {
    await c.end()
  }
}

const json = (stdout: string) => JSON.parse(stdout) as RehearseResult[]
const step = (r: RehearseResult, migration: string, action: string) => r.steps.find((s) => s.migration === migration && s.action === action)!
const rowsOf = (s: { tables: { table: string; rows: number }[] }, table: string) => s.tables.find((t) => t.table === table)?.rows

beforeAll(async () => {
  url = await freshDatabase('rehearse')
  prismaDir = copyPrismaDir('rehearse')
  const run = await runCli(['deploy', '--module', 'admin'], env())
  expect(run.exitCode, run.stderr).toBe(0)
  // 5 users and 577 audit rows, each of them but every seventh linked to a user.
  await query(
    url,
    `insert into users (username, email, role, status, is_system, failed_login_attempts)
     select 'user' || i, 'user' || i || '@example.org', 'USER', 'ACTIVE', false, 0 from generate_series(1, 5) i`,
  )
  await query(
    url,
    `insert into audit_logs (event_type, actor_type, action, success, hmac_signature, user_id, data)
     select 'login', 'user', 'login', true, md5(i::text), case when i % 7 = 0 then null else 1 + i % 5 end, jsonb_build_object('n', i)
       from generate_series(1, 577) i`,
  )
})
afterEach(() => {
  for (const dir of written.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})
afterAll(() => dropDatabase('rehearse'))

describe('rehearse', () => {
  test('with no pending migration it says so (exit 0)', async () => {
    const run = await runCli(['rehearse', '--module', 'admin'], env())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^✅ admin: nothing pending: the target has applied every migration, so there is nothing to rehearse/)
  })

  test('an expand step and a lossy data step: each shows in the per-table report, and the target is identical before and after', async () => {
    const linkedToUser1 = Number((await query<{ n: string }>(url, 'select count(*) as n from audit_logs where user_id = 1'))[0].n)
    pending(
      '20990101000000_add_nickname',
      'ALTER TABLE "users" ADD COLUMN "nickname" VARCHAR(100);\nUPDATE "users" SET "nickname" = upper("username");\n',
      'ALTER TABLE "users" DROP COLUMN "nickname";\n',
    )
    pending('20990101000001_forget_user_1', 'DELETE FROM "audit_logs" WHERE "user_id" = 1;\n', 'SELECT 1;\n')
    const before = await targetProof('artstore_t_rehearse')
    const run = await runCli(['rehearse', '--module', 'admin', '--json'], env())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await targetProof('artstore_t_rehearse')).toEqual(before)

    const [r] = json(run.stdout)
    expect(r.status).toBe('rehearsed')
    expect(r.pending).toEqual(['20990101000000_add_nickname', '20990101000001_forget_user_1'])
    expect(r.steps.map((s) => `${s.action} ${s.migration ?? ''}`.trim())).toEqual([
      'copy',
      'apply 20990101000000_add_nickname',
      'down 20990101000000_add_nickname',
      'reapply 20990101000000_add_nickname',
      'apply 20990101000001_forget_user_1',
      'down 20990101000001_forget_user_1',
      'reapply 20990101000001_forget_user_1',
    ])
    // The copy holds the target's rows, hash for hash.
    const copy = r.steps[0]
    expect(copy.differs).toEqual([])
    expect(rowsOf(copy, 'audit_logs')).toBe(577)
    expect(rowsOf(copy, 'users')).toBe(5)
    // The expand step changes users' content (a new column, filled), not its row count; its down.sql gives it back.
    expect(step(r, '20990101000000_add_nickname', 'apply').changed).toEqual(['users'])
    expect(rowsOf(step(r, '20990101000000_add_nickname', 'apply'), 'users')).toBe(5)
    expect(step(r, '20990101000000_add_nickname', 'down').differs).toEqual([])
    expect(step(r, '20990101000000_add_nickname', 'reapply').differs).toEqual([])
    // The lossy step: audit_logs loses the rows of user 1, and its down.sql cannot bring them back.
    const lossy = step(r, '20990101000001_forget_user_1', 'apply')
    expect(lossy.changed).toEqual(['audit_logs'])
    expect(rowsOf(lossy, 'audit_logs')).toBe(577 - linkedToUser1)
    expect(step(r, '20990101000001_forget_user_1', 'down').differs).toEqual(['audit_logs'])
    expect(lossy.tables.find((t) => t.table === 'audit_logs')!.hash).not.toBe(copy.tables.find((t) => t.table === 'audit_logs')!.hash)

    const shown = await runCli(['rehearse', '--module', 'admin'], env())
    expect(shown.exitCode, shown.stderr).toBe(0)
    expect(shown.stdout).toContain(`✔ apply 20990101000001_forget_user_1`)
    expect(shown.stdout).toContain(`audit_logs 577 → ${577 - linkedToUser1} rows`)
    expect(shown.stdout).toContain(`⚠️  not as before the migration: audit_logs ${577 - linkedToUser1} rows (577 then)`)
  })

  test('a failing step exits 1 naming the migration, the SQLSTATE and the DETAIL; the target is untouched', async () => {
    pending('20990101000000_ok', 'ALTER TABLE "users" ADD COLUMN "nickname" VARCHAR(100);\n', 'ALTER TABLE "users" DROP COLUMN "nickname";\n')
    pending('20990101000001_one_row_per_user', 'CREATE UNIQUE INDEX "uq_audit_user" ON "audit_logs"("user_id");\n', 'DROP INDEX "uq_audit_user";\n')
    const before = await targetProof('artstore_t_rehearse')
    const run = await runCli(['rehearse', '--module', 'admin'], env())
    expect(run.exitCode, run.stdout + run.stderr).toBe(1)
    expect(run.stdout).toMatch(/^❌ admin: 20990101000001_one_row_per_user failed at apply \(the target was only read\)/)
    expect(run.stdout).toMatch(
      /❌ apply 20990101000001_one_row_per_user: SQLSTATE 23505: could not create unique index "uq_audit_user"; DETAIL: Key \(user_id\)=\(\d\) is duplicated\./,
    )
    const asJson = await runCli(['rehearse', '--module', 'admin', '--json'], env())
    expect(asJson.exitCode).toBe(1)
    const [r] = json(asJson.stdout)
    expect(r.status).toBe('failed')
    expect(r.failure).toMatchObject({ migration: '20990101000001_one_row_per_user', action: 'apply', sqlstate: '23505' })
    expect(r.failure!.detail).toMatch(/is duplicated/)
    expect(await targetProof('artstore_t_rehearse')).toEqual(before)
    // Nothing of the target's history moved: both migrations are still pending there.
    const status = await runCli(['status', '--module', 'admin', '--json'], env())
    expect(JSON.parse(status.stdout)[0].pending).toEqual(['20990101000000_ok', '20990101000001_one_row_per_user'])
  })

  test('a down.sql that fails, and a migration without one, exit 1 at its down step', async () => {
    pending('20990101000000_bad_down', 'ALTER TABLE "users" ADD COLUMN "nickname" VARCHAR(100);\n', 'ALTER TABLE "users" DROP COLUMN "nick";\n')
    const bad = await runCli(['rehearse', '--module', 'admin', '--json'], env())
    expect(bad.exitCode).toBe(1)
    expect(json(bad.stdout)[0].failure).toMatchObject({ migration: '20990101000000_bad_down', action: 'down', sqlstate: '42703' })
    fs.rmSync(path.join(written[0], 'down.sql'))
    const none = await runCli(['rehearse', '--module', 'admin', '--json'], env())
    expect(none.exitCode).toBe(1)
    expect(json(none.stdout)[0].failure!.message).toMatch(/^20990101000000_bad_down has no down\.sql: write one/)
  })

  test('above the size bound it refuses (exit 2) naming the override, and copies nothing', async () => {
    pending('20990101000000_ok', 'SELECT 1;\n', 'SELECT 1;\n')
    const run = await runCli(['rehearse', '--module', 'admin', '--max-bytes', '1000'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toMatch(
      /^error: admin: its tables take [\d.]+ MiB on the target \(\d+ bytes, pg_total_relation_size\), more than the rehearsal bound of 0\.0 MiB \(1000 bytes\); nothing was copied: if the scratch server has the room, raise the bound: npx artstore-db rehearse --module admin --max-bytes \d+ \(or ARTSTORE_REHEARSE_MAX_BYTES=\d+\)$/,
    )
    const byVariable = await runCli(['rehearse', '--module', 'admin'], env({ ARTSTORE_REHEARSE_MAX_BYTES: '1000' }))
    expect(byVariable.exitCode).toBe(2)
    const bad = await runCli(['rehearse', '--module', 'admin'], env({ ARTSTORE_REHEARSE_MAX_BYTES: 'lots' }))
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr.trim()).toBe('error: ARTSTORE_REHEARSE_MAX_BYTES "lots" is not a whole number of bytes: give one, e.g. --max-bytes 2147483648 (2 GiB)')
  })
})

describe('rehearse of a storage-element instance in the shared layout', () => {
  let seUrl: string
  const seEnv = () => ({ STORAGE_ELEMENT_DATABASE_URL: `${seUrl}?schema=public`, STORAGE_ELEMENT_LAYOUT: 'shared', ARTSTORE_PRISMA_DIR: prismaDir })
  beforeAll(async () => {
    seUrl = await freshDatabase('rehearse_se')
    for (const prefix of ['storage_elem_01', 'storage_elem_02']) {
      const run = await runCli(['deploy', '--module', 'storage-element', '--prefix', prefix], seEnv())
      expect(run.exitCode, run.stderr).toBe(0)
    }
    for (const [prefix, n] of [
      ['storage_elem_01', 3],
      ['storage_elem_02', 4],
    ] as const) {
      await query(
        seUrl,
        `insert into ${prefix}_wal (transaction_id, operation_type, status, operation_data)
         select gen_random_uuid(), 'upload', 'done', '{}'::jsonb from generate_series(1, ${n})`,
      )
    }
  })
  afterAll(() => dropDatabase('rehearse_se'))

  test("--prefix copies that instance's tables alone and rehearses its pending migration; the database is identical after", async () => {
    pending('20990101000000_forget_wal', 'DELETE FROM "storage_elem_01_wal";\n', 'SELECT 1;\n', 'storage-element')
    const before = await targetProof('artstore_t_rehearse_se')
    const run = await runCli(['rehearse', '--module', 'storage-element', '--prefix', 'storage_elem_02', '--json'], seEnv())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await targetProof('artstore_t_rehearse_se')).toEqual(before)
    const [r] = json(run.stdout)
    expect(r.prefix).toBe('storage_elem_02')
    expect(r.steps[0].tables.map((t) => t.table).every((t) => t.startsWith('storage_elem_02_'))).toBe(true)
    expect(rowsOf(r.steps[0], 'storage_elem_02_wal')).toBe(4)
    const apply = step(r, '20990101000000_forget_wal', 'apply')
    expect(apply.changed).toEqual(['storage_elem_02_wal'])
    expect(rowsOf(apply, 'storage_elem_02_wal')).toBe(0)
  })
})
