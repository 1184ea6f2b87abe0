// `status` of a migration whose deploy was killed (SIGKILL, its connection lost) while it ran: its
// history row is left unfinished with no error logged, and the next deploy settles it itself (see
// judgeInterrupted in src/deploy/recover.ts). Status gave the hint of a failed migration ("undo what it
// did, then resolve --rolled-back"), though nothing of it had committed: for an ordinary migration (one
// transaction) and for a batched backfill killed before its first batch. Now it names deploy, which then
// applies it; a migration that failed with an error still gets the resolve hint.
import { expect, test } from 'vitest'
import { verify } from '../../src/verify/verify.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { addMigration, installGate, killDeployWhileRunning } from '../helpers/interrupt.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const database = freshDatabasesOfThisFile()
/**
 * A database with the admin baseline deployed, a gate (gate.stall() sleeps while gate.closed has a
 * row: the migration under test waits there) and the migration `name` added to a scratch history.
 */
async function setUp(db: string, name: string, sql: string) {
  const url = await database(db)
  const prismaDir = copyPrismaDir(db, { at: 'baseline' })
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  expect((await runCli(['deploy', '--module', 'admin'], env)).exitCode).toBe(0)
  await installGate(url)
  addMigration(prismaDir, name, sql)
  return { url, env }
}

const rowOf = async (url: string, name: string) =>
  (
    await query<{ finished: boolean; logged: boolean }>(
      url,
      `select finished_at is not null as finished, logs is not null as logged from _prisma_migrations where migration_name = $1 and rolled_back_at is null`,
      [name],
    )
  )[0]

/** status in JSON and text: deploy as the next command, no resolve anywhere. */
async function expectStatusNamesDeploy(env: Record<string, string>, name: string, interrupted: object, line: string) {
  const json = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(json.exitCode, json.stderr).toBe(1)
  const [s] = JSON.parse(json.stdout)
  expect(s).toMatchObject({ state: 'failed', failed: [name], interrupted: { migration: name, ...interrupted }, next: 'npx artstore-db deploy --module admin' })
  expect(json.stdout).not.toContain('resolve')
  const text = await runCli(['status', '--module', 'admin'], env)
  expect(text.exitCode).toBe(1)
  expect(text.stdout).toContain(`   unfinished: ${name}, ${line}  → npx artstore-db deploy --module admin`)
  expect(text.stdout).not.toContain('resolve')
}

/** A plain deploy settles it and applies it; status is then up to date. */
async function expectDeployApplies(env: Record<string, string>, name: string) {
  const deployed = await runCli(['deploy', '--module', 'admin', '--json'], env)
  expect(deployed.exitCode, deployed.stderr).toBe(0)
  expect(JSON.parse(deployed.stdout)[0]).toMatchObject({ status: 'applied', migrations: [name], recovered: { migration: name } })
  const after = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(after.exitCode, after.stdout).toBe(0)
  expect(JSON.parse(after.stdout)[0]).toMatchObject({ state: 'up-to-date', pending: [], failed: [] })
  expect(JSON.parse(after.stdout)[0].next).toBeUndefined()
}

test('attack: an ordinary migration whose deploy was SIGKILLed mid-way was told "undo what it did, then resolve --rolled-back" (nothing of it had committed); now status names deploy, which settles and applies it', async () => {
  const name = '20270101000000_interrupted_table'
  const { url, env } = await setUp(
    'interrupted_plain',
    name,
    `CREATE TABLE "interrupt_things" ("id" INTEGER NOT NULL, CONSTRAINT "interrupt_things_pkey" PRIMARY KEY ("id"));\nSELECT gate.stall() FROM generate_series(1, 4000);\n`,
  )
  await killDeployWhileRunning(url, env, 'gate.stall()', async () => {
    // While the deploy runs it, status says so (its session holds the migration lock), and names no resolve.
    const during = await runCli(['status', '--module', 'admin', '--json'], env)
    const [s] = JSON.parse(during.stdout)
    expect(s).toMatchObject({ state: 'failed', interrupted: { migration: name, deploy: 'running' } })
    expect(s.next).toMatch(
      new RegExp(
        `^a deploy is running ${name} now \\(backend pid ${s.interrupted.runningPid} holds .*: when it has ended, npx artstore-db status --module admin$`,
      ),
    )
    expect(during.stdout).not.toContain('resolve')
  })
  expect(await rowOf(url, name)).toEqual({ finished: false, logged: false })
  expect(await query(url, `select to_regclass('public.interrupt_things') as t`)).toEqual([{ t: null }])

  await expectStatusNamesDeploy(
    env,
    name,
    { deploy: 'rolled-back' },
    'interrupted (no error logged), the database shows none of it: deploy settles it (marks it rolled back) and runs it again',
  )
  // verify names the same next step for its history line.
  const [v] = await verify({ module: 'admin', env })
  expect(v.items.find((i) => i.name === `${name} is applied with the committed checksum`)).toMatchObject({
    ok: false,
    actual: 'unfinished, interrupted (no error logged): deploy settles it, run npx artstore-db deploy --module admin',
  })
  await expectDeployApplies(env, name)
  expect(await query(url, `select to_regclass('public.interrupt_things') is not null as t`)).toEqual([{ t: true }])
}, 300_000)

test('attack: a batched backfill SIGKILLed before its first batch committed (no progress row) was told to resolve; now status names deploy, which runs it from its first key', async () => {
  const name = '20270101000000_backfill_first_batch'
  const { url, env } = await setUp(
    'interrupted_batched',
    name,
    `-- ${name}: a data migration\n-- artstore: batched table=backfill_items key=id size=5000\nUPDATE backfill_items SET dst = src * 2\n WHERE id BETWEEN $1 AND $2 AND gate.stall();\n`,
  )
  await query(
    url,
    `create table public.backfill_items (id bigint primary key, src int not null, dst int);
     insert into public.backfill_items (id, src) select i, i % 97 from generate_series(1, 3000) i;`,
  )
  await killDeployWhileRunning(url, env, 'gate.stall()')
  expect(await rowOf(url, name)).toEqual({ finished: false, logged: false })
  // No batch committed: the progress row the run starts with, if any, records none.
  const batches = `select coalesce(sum(batches), 0)::int as n from artstore.batched_backfills where migration = $1`
  expect(await query(url, batches, [name]).catch(() => [{ n: 0 }])).toEqual([{ n: 0 }])
  expect(await query(url, `select count(*)::int as n from public.backfill_items where dst is not null`)).toEqual([{ n: 0 }])

  await expectStatusNamesDeploy(
    env,
    name,
    { deploy: 'resumed' },
    'a batched backfill interrupted (no error logged) before its first batch committed: deploy settles it and runs it from its first key',
  )
  await expectDeployApplies(env, name)
  expect(await query(url, `select count(*)::int as n from public.backfill_items where dst = src * 2`)).toEqual([{ n: 3000 }])
}, 300_000)

test('a migration that failed with an SQL error (logged) keeps the resolve hint', async () => {
  const name = '20270101000000_divides_by_zero'
  const { url, env } = await setUp('failed_logged', name, `CREATE TABLE "doomed_things" ("id" INTEGER NOT NULL);\nSELECT 1 / 0;\n`)
  const failed = await runCli(['deploy', '--module', 'admin'], env)
  expect(failed.exitCode).toBe(1)
  expect(await rowOf(url, name)).toEqual({ finished: false, logged: true })
  const json = await runCli(['status', '--module', 'admin', '--json'], env)
  const [s] = JSON.parse(json.stdout)
  expect(s).toMatchObject({ state: 'failed', failed: [name] })
  expect(s.interrupted).toBeUndefined()
  expect(s.next).toMatch(new RegExp(`^undo what ${name} did, then npx artstore-db resolve --module admin --rolled-back ${name} `))
  const text = await runCli(['status', '--module', 'admin'], env)
  expect(text.stdout).toContain(`   failed: ${name}  → undo what it did, then npx artstore-db resolve --module admin --rolled-back ${name}`)
}, 300_000)
