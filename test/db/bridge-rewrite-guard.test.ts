// The rewrite guard of `artstore-db deploy` in the offline engine bridge: `prisma migrate deploy`
// through the real Prisma CLI refuses a pending migration that rewrites a table above the threshold
// (non-zero exit, nothing applied, no history row, the migration still pending) unless the run names
// it in ARTSTORE_ALLOW_REWRITE or its header records the allowance; below the threshold it just runs.
// `artstore-db deploy` takes ARTSTORE_ALLOW_REWRITE as the variable form of --allow-rewrite.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { runPrisma } from '../../src/prisma/run.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'
import { scratchCopy, writeMigration } from '../helpers/workdir.ts'

const freshDatabase = freshDatabasesOfThisFile()

/** Large means above 8 kB here: `big` holds 200 rows (a heap page and its primary key's pages, about 24 kB). */
const SMALL_THRESHOLD = '8kB'

const ALTER = 'ALTER TABLE "big" ALTER COLUMN "x" SET DATA TYPE BIGINT'
const MIGRATION = '0002_widen_x'
/** The allowance header `npx artstore-db migrate allow` writes for ALTER. */
const ALLOWANCE = `-- Dangerous steps allowed: maintenance window, services stopped
--   rewrite: "big": ${ALTER}: rewrites every row and rebuilds its indexes under ACCESS EXCLUSIVE (reads and writes wait)
`

/**
 * A database of its own with `big` (200 rows) made and recorded by `prisma migrate deploy`, and
 * MIGRATION pending. `history`: the shared layout of a storage-element instance, its tables in
 * `tables` and its `_prisma_migrations` in a history schema of its own (named in the URL). `folder`:
 * the name of the folder that holds `migrations/` (a module's name makes the hint name the module).
 */
async function setup(name: string, o: { history?: boolean; header?: string; folder?: string } = {}) {
  const url = await freshDatabase(`bridge_rewrite_guard_${name}`)
  const dir = scratchCopy('bridge', path.join(`bridge-rewrite-guard-${name}`, o.folder ?? 'project'))
  const u = new URL(url)
  const tables = o.history ? 'tables' : 'public'
  const history = o.history ? 'hist' : 'public'
  if (o.history) {
    u.searchParams.set('schema', tables)
    u.searchParams.set('artstore_history', history)
    // As `deploy` makes it (ensureHistoryTable): the engine finds it on the search_path.
    await query(
      url,
      `create schema tables; create schema hist; create table hist."_prisma_migrations" (
         "id" varchar(36) primary key not null, "checksum" varchar(64) not null, "finished_at" timestamptz,
         "migration_name" varchar(255) not null, "logs" text, "rolled_back_at" timestamptz,
         "started_at" timestamptz not null default now(), "applied_steps_count" integer not null default 0)`,
    )
  }
  const deployUrl = u.toString()
  const deploy = (env: Record<string, string> = {}) =>
    runPrisma(['migrate', 'deploy'], { configFile: path.join(dir, 'prisma.config.ts'), cwd: dir, env: { BRIDGE_TEST_URL: deployUrl, ...env } })
  writeMigration(dir, '0001_big', 'CREATE TABLE "big" ("id" INTEGER NOT NULL, "x" INTEGER NOT NULL, CONSTRAINT "big_pkey" PRIMARY KEY ("id"));\n')
  const first = await deploy()
  expect(first.exitCode, first.stdout + first.stderr).toBe(0)
  await query(url, `insert into ${tables}.big select i, i from generate_series(1, 200) i; analyze ${tables}.big`)
  writeMigration(dir, MIGRATION, `${o.header ?? ''}${ALTER};\n`)
  const typeOfX = async () =>
    (
      await query<{ type: string }>(url, `select format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = $1::regclass and attname = 'x'`, [
        `${tables}.big`,
      ])
    )[0].type
  const rows = () =>
    query<{ name: string; finished: boolean }>(
      url,
      `select migration_name as name, finished_at is not null as finished from ${history}."_prisma_migrations" order by started_at, migration_name`,
    )
  return { deploy, typeOfX, rows, tables }
}

describe('prisma migrate deploy through the bridge: the rewrite guard', () => {
  test('a type change of a table above ARTSTORE_REWRITE_THRESHOLD is refused: exit 1, each statement named, nothing applied or recorded', async () => {
    const s = await setup('refused', { folder: 'admin' })
    const run = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD })
    expect(run.exitCode, run.stdout + run.stderr).toBe(1)
    const out = run.stdout + run.stderr
    expect(out).toContain(`The rewrite guard refused ${MIGRATION}: nothing was applied, and ${MIGRATION} stays pending (not failed).`)
    const line = out.split('\n').find((l) => l.includes(`${MIGRATION} (line 1): "big" is `))
    expect(line, out).toBeDefined()
    expect(line).toMatch(/"big" is \d+ kB \(about 200 rows\), above the rewrite threshold of 8192 bytes:/)
    expect(line).toContain(`${ALTER} rewrites every row and rebuilds its indexes under ACCESS EXCLUSIVE`)
    expect(line).toContain('safe form: add a column of the new type, backfill it in batches')
    expect(line).toContain(
      `to allow it: ARTSTORE_ALLOW_REWRITE=${MIGRATION} in the environment of this one prisma migrate deploy, or record it before it is deployed anywhere: npx artstore-db migrate allow ${MIGRATION} --module admin --reason "<why>"`,
    )
    expect(line).not.toContain('--allow-rewrite')
    expect(await s.typeOfX()).toBe('integer')
    expect(await s.rows()).toEqual([{ name: '0001_big', finished: true }])
    // Pending, not failed: the next run is weighed again (a failed row would stop it with P3009 instead).
    const again = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD })
    expect(again.exitCode).toBe(1)
    expect(again.stdout + again.stderr).toContain(`The rewrite guard refused ${MIGRATION}`)
  })

  test('in a storage-element instance layout the history is read from its history schema: refused, nothing recorded there', async () => {
    const s = await setup('history', { history: true })
    expect(await s.rows()).toEqual([{ name: '0001_big', finished: true }])
    const run = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD, STORAGE_ELEMENT_PREFIX: 'se2' })
    expect(run.exitCode, run.stdout + run.stderr).toBe(1)
    expect(run.stdout + run.stderr).toContain(`${MIGRATION} (line 1): "big" is `)
    expect(run.stdout + run.stderr).toContain(`npx artstore-db migrate allow ${MIGRATION} --module storage-element --prefix se2 --reason "<why>"`)
    expect(await s.typeOfX()).toBe('integer')
    expect(await s.rows()).toEqual([{ name: '0001_big', finished: true }])
  })

  test('ARTSTORE_ALLOW_REWRITE=<migration> lets that run apply it', async () => {
    const s = await setup('allowed_env')
    const other = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD, ARTSTORE_ALLOW_REWRITE: '0003_another' })
    expect(other.exitCode, other.stdout + other.stderr).toBe(1)
    // A folder of no module: the hint names the header lines instead of a `migrate allow` it cannot take.
    expect(other.stdout + other.stderr).toContain(
      `or record it before it is deployed anywhere: the migration's "--   rewrite:" header lines, as npx artstore-db migrate allow writes them`,
    )
    expect(await s.typeOfX()).toBe('integer')
    const run = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD, ARTSTORE_ALLOW_REWRITE: `0003_another, ${MIGRATION}` })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await s.typeOfX()).toBe('bigint')
    expect(await s.rows()).toEqual([
      { name: '0001_big', finished: true },
      { name: MIGRATION, finished: true },
    ])
  })

  test("the migration's recorded allowance (its --   rewrite: header line) lets it through; another statement's line does not", async () => {
    const wrong = await setup('allowed_wrong', { header: ALLOWANCE.replace('"big": ', '"other": ') })
    const refused = await wrong.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD })
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(1)
    expect(await wrong.typeOfX()).toBe('integer')
    const s = await setup('allowed_header', { header: ALLOWANCE })
    const run = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await s.typeOfX()).toBe('bigint')
    expect(await s.rows()).toEqual([
      { name: '0001_big', finished: true },
      { name: MIGRATION, finished: true },
    ])
  })

  test('below the threshold it is applied; the same table above a lower one is not', async () => {
    const s = await setup('below')
    const above = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD })
    expect(above.exitCode, above.stdout + above.stderr).toBe(1)
    expect(await s.typeOfX()).toBe('integer')
    const run = await s.deploy({ ARTSTORE_REWRITE_THRESHOLD: '1MB' })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(await s.typeOfX()).toBe('bigint')
    expect(await s.rows()).toEqual([
      { name: '0001_big', finished: true },
      { name: MIGRATION, finished: true },
    ])
  })
})

describe('artstore-db deploy and ARTSTORE_ALLOW_REWRITE', () => {
  test('the variable form of --allow-rewrite: an unknown name is refused (exit 2) naming the variable; a pending one is applied, reported as allowed by it', async () => {
    const url = await freshDatabase('bridge_rewrite_guard_deploy')
    const prismaDir = copyPrismaDir('bridge-rewrite-guard-deploy', { at: 'baseline' })
    const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir, ARTSTORE_REWRITE_THRESHOLD: SMALL_THRESHOLD }
    const write = (m: string, sql: string, down: string) => {
      const dir = path.join(prismaDir, 'admin', 'migrations', m)
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, 'migration.sql'), sql)
      fs.writeFileSync(path.join(dir, 'down.sql'), down)
    }
    write(
      '20270101000000_big',
      'CREATE TABLE "big" ("id" INTEGER NOT NULL, "x" INTEGER NOT NULL, CONSTRAINT "big_pkey" PRIMARY KEY ("id"));\n',
      'DROP TABLE "big";\n',
    )
    const first = await runCli(['deploy', '--module', 'admin'], env)
    expect(first.exitCode, first.stderr + first.stdout).toBe(0)
    await query(url, 'insert into big select i, i from generate_series(1, 200) i; analyze big')
    const m = '20270102000000_widen_x'
    write(m, `${ALTER};\n`, 'ALTER TABLE "big" ALTER COLUMN "x" SET DATA TYPE INTEGER;\n')
    const wrong = await runCli(['deploy', '--module', 'admin'], { ...env, ARTSTORE_ALLOW_REWRITE: '20270102000000_nope' })
    expect(wrong.exitCode).toBe(2)
    expect(wrong.stderr).toContain('ARTSTORE_ALLOW_REWRITE=20270102000000_nope: no later migration folder of admin has that name')
    const refused = await runCli(['deploy', '--module', 'admin'], env)
    expect(refused.exitCode).toBe(2)
    expect(refused.stdout).toContain(`${m} (line 1): "big" is `)
    const run = await runCli(['deploy', '--module', 'admin'], { ...env, ARTSTORE_ALLOW_REWRITE: m })
    expect(run.exitCode, run.stderr + run.stdout).toBe(0)
    expect(run.stdout).toContain(`allowed rewrite (ARTSTORE_ALLOW_REWRITE): ${m}: "big"`)
    const type = await query<{ type: string }>(
      url,
      `select format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = 'public.big'::regclass and attname = 'x'`,
    )
    expect(type).toEqual([{ type: 'bigint' }])
  }, 180_000)
})
