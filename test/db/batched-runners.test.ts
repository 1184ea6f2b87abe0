// Every runner of a migration runs a batched backfill (`-- artstore: batched …`) correctly: deploy, its
// rollback (a batched down.sql too) and a second deploy, `migrate check` (replay, down.sql, lint), `cycle`, `rehearse` (on a copy
// of real rows, in batches) and `prisma migrate deploy` through the bridge; a malformed header is
// refused by `migrate check` with one line.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { runPrisma } from '../../src/prisma/run.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { scratchCopy, writeMigration } from '../helpers/workdir.ts'

const database = freshDatabasesOfThisFile()
const MIGRATION = '20270101000000_mark_old_logs'
const BACKFILL = `-- ${MIGRATION}: a data migration\n-- artstore: batched table=audit_logs key=id size=7\nUPDATE "audit_logs" SET "severity" = 'warning'\n WHERE "id" BETWEEN $1 AND $2 AND "severity" = 'info';\n`
const DOWN = `-- artstore: batched table=audit_logs key=id size=4\nUPDATE "audit_logs" SET "severity" = 'info' WHERE "id" BETWEEN $1 AND $2 AND "severity" = 'warning';\n`

/** A prisma copy (at the baseline) with the batched backfill on audit_logs as its next migration. */
function prismaWith(name: string, up = BACKFILL) {
  const prismaDir = copyPrismaDir(`batched-runners-${name}`, { at: 'baseline' })
  const dir = path.join(prismaDir, 'admin', 'migrations', MIGRATION)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'migration.sql'), up)
  fs.writeFileSync(path.join(dir, 'down.sql'), DOWN)
  return prismaDir
}

/** A database with admin's baseline deployed and 50 audit rows, all `info`. */
async function withAuditRows(name: string, prismaDir: string) {
  const url = await database(`batched_runners_${name}`)
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  const head = fs.readdirSync(path.join(prismaDir, 'admin', 'migrations')).filter((m) => m !== MIGRATION && !m.endsWith('.toml'))
  expect(head).toEqual(['0_baseline'])
  // Only the baseline: the backfill stays pending.
  const pending = path.join(prismaDir, 'admin', 'migrations', MIGRATION)
  const aside = path.join(path.dirname(prismaDir), MIGRATION)
  fs.renameSync(pending, aside)
  const run = await runCli(['deploy', '--module', 'admin'], env)
  fs.renameSync(aside, pending)
  expect(run.exitCode, run.stderr).toBe(0)
  await query(
    url,
    `insert into public.audit_logs (event_type, actor_type, action, success, hmac_signature)
     select 'login_success', 'user', 'login', true, md5(i::text) from generate_series(1, 50) i`,
  )
  const severities = async () =>
    (await query<{ severity: string; n: number }>(url, `select severity, count(*)::int as n from public.audit_logs group by 1 order by 1`)).map(
      (r) => `${r.severity}:${r.n}`,
    )
  return { url, env, severities }
}

describe('a batched backfill through every runner', () => {
  test('deploy runs it in batches; rollback runs its batched down.sql; a second deploy runs it anew', async () => {
    const prismaDir = prismaWith('deploy')
    const s = await withAuditRows('deploy', prismaDir)
    const run = await runCli(['deploy', '--module', 'admin', '--json'], s.env)
    expect(run.exitCode, run.stderr).toBe(0)
    const [r] = JSON.parse(run.stdout)
    // 50 keys in batches of 7 and more: at least two batches, each its own transaction.
    expect(r.backfills).toEqual([expect.objectContaining({ migration: MIGRATION, done: true, walked: 50, changed: 50, resumed: false })])
    expect(r.backfills[0].batches).toBeGreaterThan(1)
    expect(await s.severities()).toEqual(['warning:50'])
    expect(await query(s.url, 'select * from artstore.batched_backfills')).toEqual([])
    const back = await runCli(['rollback', '--module', 'admin', '--steps', '1', '--yes'], s.env)
    expect(back.exitCode, back.stderr).toBe(0)
    expect(await s.severities()).toEqual(['info:50'])
    expect(await query(s.url, `select count(*)::int as n from public._prisma_migrations where migration_name = $1`, [MIGRATION])).toEqual([{ n: 0 }])
    expect(await query(s.url, 'select * from artstore.batched_backfills')).toEqual([])
    const again = await runCli(['deploy', '--module', 'admin', '--json'], s.env)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)[0].backfills).toEqual([expect.objectContaining({ done: true, walked: 50, changed: 50 })])
    expect(await s.severities()).toEqual(['warning:50'])
  })

  test('migrate check and cycle pass; a malformed header fails migrate check, and deploy, with one line', async () => {
    const prismaDir = prismaWith('check')
    const s = await withAuditRows('check', prismaDir)
    const check = await runCli(['migrate', 'check', '--module', 'admin'], s.env)
    expect(check.exitCode, check.stdout + check.stderr).toBe(0)
    const cycle = await runCli(['cycle', '--module', 'admin', '--json'], s.env)
    expect(cycle.exitCode, cycle.stdout.slice(0, 2000) + cycle.stderr).toBe(0)

    const broken = prismaWith('check-broken', BACKFILL.replace('key=id ', 'key=id rows=5 '))
    const bad = await runCli(['migrate', 'check', '--module', 'admin', '--json'], { ...s.env, ARTSTORE_PRISMA_DIR: broken })
    expect(bad.exitCode).toBe(1)
    const problems: string[] = JSON.parse(bad.stdout)[0].problems
    const line = problems.find((p) => p.includes('has an unknown setting rows='))
    expect(line, problems.join('\n')).toBeDefined()
    expect(line).toContain('write it as "-- artstore: batched table=<table> key=<column> size=<rows>"')
    expect(line!.split('\n')).toHaveLength(1)
    // deploy refuses it too, before a row is touched: the migration fails with that line.
    const deploy = await runCli(['deploy', '--module', 'admin', '--json'], { ...s.env, ARTSTORE_PRISMA_DIR: broken })
    expect(deploy.exitCode).toBe(1)
    expect(JSON.parse(deploy.stdout)[0].failure).toMatchObject({
      migration: MIGRATION,
      sqlState: '42601',
      message: expect.stringContaining('has an unknown setting rows='),
    })
    expect(await s.severities()).toEqual(['info:50'])
  })

  test('rehearse runs it on a copy of the rows, in batches: applied, stepped back, applied again; the target untouched', async () => {
    const prismaDir = prismaWith('rehearse')
    const s = await withAuditRows('rehearse', prismaDir)
    const run = await runCli(['rehearse', '--module', 'admin', '--json'], s.env)
    expect(run.exitCode, run.stdout.slice(0, 2000) + run.stderr).toBe(0)
    const [r] = JSON.parse(run.stdout)
    expect(r.status).toBe('rehearsed')
    expect(r.steps.map((st: { action: string; ok: boolean; changed: string[] }) => `${st.action}:${st.ok}:${st.changed.join(',')}`)).toEqual([
      'copy:true:',
      'apply:true:audit_logs',
      'down:true:audit_logs',
      'reapply:true:audit_logs',
    ])
    expect(r.steps[2].differs).toEqual([])
    expect(r.steps[3].differs).toEqual([])
    expect(await s.severities()).toEqual(['info:50'])
  })

  test('prisma migrate deploy through the bridge runs it in batches too', async () => {
    const dir = scratchCopy('bridge', 'batched-runners-bridge')
    const url = await database('batched_runners_bridge')
    writeMigration(
      dir,
      '0001_items',
      'CREATE TABLE "items" ("id" INTEGER PRIMARY KEY, "done" INTEGER NOT NULL DEFAULT 0);\nINSERT INTO "items" ("id") SELECT generate_series(1, 40);\n',
    )
    writeMigration(
      dir,
      '0002_backfill',
      '-- artstore: batched table=items key=id size=5\nUPDATE "items" SET "done" = "done" + 1 WHERE "id" BETWEEN $1 AND $2;\n',
    )
    const run = await runPrisma(['migrate', 'deploy'], { configFile: path.join(dir, 'prisma.config.ts'), cwd: dir, env: { BRIDGE_TEST_URL: url } })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await query(url, `select done, count(*)::int as n from public.items group by 1`)).toEqual([{ done: 1, n: 40 }])
    expect(await query(url, `select migration_name, finished_at is not null as finished from public._prisma_migrations order by 1`)).toEqual([
      { migration_name: '0001_items', finished: true },
      { migration_name: '0002_backfill', finished: true },
    ])
    expect(await query(url, 'select * from artstore.batched_backfills')).toEqual([])
  })
})
