// A data migration (INSERT, UPDATE, DELETE: the catalog is the same before and after it) whose deploy
// was SIGKILLed before it committed. Deploy's recovery read the catalog, found it "after" the
// migration (checked first) and marked it applied: its rows never came, and status and verify were
// green. Now a migration in one transaction, whose row its runner marks finished in that transaction,
// is known never to have committed (deploy runs it again); one outside a transaction is left to a
// person, with resolve.
import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { runPrisma } from '../../src/prisma/run.ts'
import { verify } from '../../src/verify/verify.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { addMigration, installGate, killDeployWhileRunning } from '../helpers/interrupt.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const database = freshDatabasesOfThisFile()
const TABLE_MIGRATION = '20270101000000_data_things'

/**
 * A database with the admin baseline and a migration creating data_things deployed, a gate
 * (gate.stall() sleeps while gate.closed has a row) and the data migration `name` added.
 */
async function setUp(db: string, name: string, sql: string) {
  const url = await database(db)
  const prismaDir = copyPrismaDir(db, { at: 'baseline' })
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  addMigration(
    prismaDir,
    TABLE_MIGRATION,
    `CREATE TABLE "data_things" ("id" INTEGER NOT NULL, "note" TEXT NOT NULL, CONSTRAINT "data_things_pkey" PRIMARY KEY ("id"));\n`,
  )
  const first = await runCli(['deploy', '--module', 'admin'], env)
  expect(first.exitCode, first.stdout + first.stderr).toBe(0)
  await installGate(url)
  addMigration(prismaDir, name, sql)
  return { url, env, prismaDir }
}

const rowsOf = (url: string, name: string) =>
  query<{ finished: boolean; logged: boolean; rolledBack: boolean }>(
    url,
    `select finished_at is not null as finished, logs is not null as logged, rolled_back_at is not null as "rolledBack" from _prisma_migrations where migration_name = $1 order by started_at`,
    [name],
  )
const things = (url: string) => query<{ note: string; n: number }>(url, `select note, count(*)::int as n from data_things group by note order by note`)

test('attack: a data migration in one transaction SIGKILLed before it committed was marked applied by the next deploy (its rows never came, status green); now status names the re-run and deploy runs it: its rows there once', async () => {
  const name = '20270102000000_seed_things'
  const { url, env } = await setUp(
    'data_in_transaction',
    name,
    `-- ${name}: a data migration\nINSERT INTO "data_things" ("id", "note") SELECT i, 'seeded' FROM generate_series(1, 5) i;\nSELECT gate.stall() FROM generate_series(1, 4000);\n`,
  )
  await killDeployWhileRunning(url, env, 'gate.stall()')
  expect(await rowsOf(url, name)).toEqual([{ finished: false, logged: false, rolledBack: false }])
  expect(await things(url)).toEqual([]) // nothing of it committed

  const json = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(json.exitCode, json.stdout).toBe(1)
  const [s] = JSON.parse(json.stdout)
  expect(s).toMatchObject({
    state: 'failed',
    failed: [name],
    interrupted: { migration: name, deploy: 'rolled-back' },
    next: 'npx artstore-db deploy --module admin',
  })
  const text = await runCli(['status', '--module', 'admin'], env)
  expect(text.stdout).toContain(
    `   unfinished: ${name}, interrupted (no error logged), the database shows none of it: deploy settles it (marks it rolled back) and runs it again  → npx artstore-db deploy --module admin`,
  )
  expect(text.stdout).not.toContain('marks it applied')
  const [v] = await verify({ module: 'admin', env })
  expect(v.items.find((i) => i.name === `${name} is applied with the committed checksum`)).toMatchObject({
    ok: false,
    actual: 'unfinished, interrupted (no error logged): deploy settles it, run npx artstore-db deploy --module admin',
  })

  const deployed = await runCli(['deploy', '--module', 'admin', '--json'], env)
  expect(deployed.exitCode, deployed.stdout + deployed.stderr).toBe(0)
  expect(JSON.parse(deployed.stdout)[0]).toMatchObject({ status: 'applied', migrations: [name], recovered: { migration: name, as: 'rolled-back' } })
  expect(await things(url)).toEqual([{ note: 'seeded', n: 5 }])
  // The interrupted row marked rolled back, and one finished row of the run.
  expect(await rowsOf(url, name)).toEqual([
    { finished: false, logged: false, rolledBack: true },
    { finished: true, logged: false, rolledBack: false },
  ])
  const after = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(after.exitCode, after.stdout).toBe(0)
  expect(JSON.parse(after.stdout)[0]).toMatchObject({ state: 'up-to-date', pending: [], failed: [] })
  // Another deploy changes nothing: the rows stay there once.
  expect((await runCli(['deploy', '--module', 'admin'], env)).exitCode).toBe(0)
  expect(await things(url)).toEqual([{ note: 'seeded', n: 5 }])
}, 300_000)

test('attack: a data migration outside a transaction SIGKILLed mid-way was marked applied (half its rows missing, status green); now deploy refuses it naming resolve, status names resolve, and nothing is marked', async () => {
  const name = '20270102000000_seed_things_in_steps'
  const { url, env } = await setUp(
    'data_no_transaction',
    name,
    [
      `-- ${name}: a data migration in steps`,
      `-- artstore: no-transaction`,
      `INSERT INTO "data_things" ("id", "note") SELECT i, 'first' FROM generate_series(1, 5) i;`,
      `COMMIT;`,
      `SELECT gate.stall() FROM generate_series(1, 4000);`,
      `INSERT INTO "data_things" ("id", "note") SELECT i, 'second' FROM generate_series(6, 10) i;`,
      '',
    ].join('\n'),
  )
  await killDeployWhileRunning(url, env, 'gate.stall()')
  expect(await rowsOf(url, name)).toEqual([{ finished: false, logged: false, rolledBack: false }])
  expect(await things(url)).toEqual([{ note: 'first', n: 5 }]) // its first step committed, its second never ran

  const fix = new RegExp(
    `^${name} runs outside a transaction and changes only rows, so the database cannot show how far it got \\(deploy leaves it to you\\): check which of its changes are there and finish or undo them by hand, then npx artstore-db resolve --module admin --applied ${name} \\(all of it there\\) or --rolled-back ${name} \\(none of it, for deploy to run it again\\); see README "Recovering from a failed migration"$`,
  )
  const json = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(json.exitCode).toBe(1)
  const [s] = JSON.parse(json.stdout)
  expect(s).toMatchObject({ state: 'failed', failed: [name], undecided: { migration: name, reason: 'rows-outside-transaction' } })
  expect(s.interrupted).toBeUndefined()
  expect(s.next).toMatch(fix)
  const text = await runCli(['status', '--module', 'admin'], env)
  expect(text.exitCode).toBe(1)
  expect(text.stdout).toContain(`   unfinished: ${name}, interrupted (no error logged)  → ${s.next}`)

  const deployed = await runCli(['deploy', '--module', 'admin', '--json'], env)
  expect(deployed.exitCode).toBe(1)
  const [d] = JSON.parse(deployed.stdout)
  expect(d).toMatchObject({ status: 'failed', failedMigration: name, failure: { migration: name, left: 'failed' } })
  expect(d.recovered).toBeUndefined()
  expect(d.failure.next).toMatch(fix)
  expect(await rowsOf(url, name)).toEqual([{ finished: false, logged: false, rolledBack: false }])
  expect(await things(url)).toEqual([{ note: 'first', n: 5 }])

  // The person's way out: finish it by hand, record it applied; status is then green.
  await query(url, `insert into data_things (id, note) select i, 'second' from generate_series(6, 10) i`)
  const resolved = await runCli(['resolve', '--module', 'admin', '--applied', name], env)
  expect(resolved.exitCode, resolved.stdout + resolved.stderr).toBe(0)
  const after = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(after.exitCode, after.stdout).toBe(0)
  expect(await things(url)).toEqual([
    { note: 'first', n: 5 },
    { note: 'second', n: 5 },
  ])
}, 300_000)

test("the fact the rule rests on: deploy, and prisma migrate deploy through the bridge, mark a migration's history row finished in the migration's own transaction", async () => {
  const viaDeploy = '20270102000000_note_deploy'
  const viaBridge = '20270103000000_note_bridge'
  const note = (id: number) => `INSERT INTO "data_things" ("id", "note") VALUES (${id}, txid_current()::text);\n`
  const { url, env, prismaDir } = await setUp('data_same_transaction', viaDeploy, note(1))
  // Each update that finishes a history row, with the transaction it ran in.
  await query(
    url,
    `create table gate.finishes (migration text, xid text);
     create function gate.log_finish() returns trigger language plpgsql as $$
       begin if new.finished_at is not null and old.finished_at is null then insert into gate.finishes values (new.migration_name, txid_current()::text); end if; return new; end $$;
     create trigger log_finish before update on _prisma_migrations for each row execute function gate.log_finish();`,
  )
  const finishedInItsTransaction = (id: number, name: string) =>
    query<{ same: boolean }>(url, `select f.xid = t.note as same from gate.finishes f, data_things t where f.migration = $1 and t.id = $2`, [name, id])
  const deployed = await runCli(['deploy', '--module', 'admin'], env)
  expect(deployed.exitCode, deployed.stdout + deployed.stderr).toBe(0)
  expect(await finishedInItsTransaction(1, viaDeploy)).toEqual([{ same: true }])

  addMigration(prismaDir, viaBridge, note(2))
  const config = path.join(prismaDir, 'bridge.config.ts')
  fs.writeFileSync(
    config,
    `import { defineConfig } from 'prisma/config'\nexport default defineConfig({ schema: './admin/schema.prisma', migrations: { path: './admin/migrations' }, datasource: { url: process.env.BRIDGE_TEST_URL } })\n`,
  )
  const bridged = await runPrisma(['migrate', 'deploy'], { configFile: config, cwd: prismaDir, env: { BRIDGE_TEST_URL: url } })
  expect(bridged.exitCode, bridged.stdout + bridged.stderr).toBe(0)
  expect(await finishedInItsTransaction(2, viaBridge)).toEqual([{ same: true }])
}, 300_000)
