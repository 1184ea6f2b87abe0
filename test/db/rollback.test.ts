// rollback on real PostgreSQL, on a scratch copy of the module folders with two hand-made later
// migrations of the query module (a table with an enum, then a label, a column and a dropped unique
// index, whose down.sql is Prisma's enum recreation block `BEGIN; … COMMIT;`):
// - issue 19 item 5: going past 0_baseline is asked for by name (--all), a bare rollback and --steps
//   beyond the later migrations are refused, and --dry-run names every table and column whose rows go;
// - issue 20: each step is one transaction with the deletion of its history row, under the migration
//   lock, even with the block's COMMIT; a failed down.sql reports the migration, SQLSTATE, DETAIL, HINT
//   and the next command, in text and with --json.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { deploy } from '../../src/deploy/deploy.ts'
import { MIGRATION_LOCK_KEY } from '../../src/db/lock.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const TABLE = '29990101000000_uploads'
const LABEL = '29990102000000_upload_failed_label'
const held = `exists (select 1 from pg_locks where locktype = 'advisory' and granted and pid = pg_backend_pid() and objid = ${MIGRATION_LOCK_KEY} and objsubid = 1)`

/** The two later migrations, as `migrate new` writes them (down.sql of the second with Prisma's enum block, and a probe inside it). */
function addMigrations(prismaDir: string): void {
  const dir = (name: string) => {
    const d = path.join(prismaDir, 'query', 'migrations', name)
    fs.mkdirSync(d, { recursive: true })
    return d
  }
  fs.writeFileSync(
    path.join(dir(TABLE), 'migration.sql'),
    `-- CreateEnum
CREATE TYPE "upload_state" AS ENUM ('new', 'done');

-- CreateTable
CREATE TABLE "uploads" ("id" INTEGER NOT NULL, "code" TEXT NOT NULL, "state" "upload_state" NOT NULL DEFAULT 'new', CONSTRAINT "uploads_pkey" PRIMARY KEY ("id"));

-- CreateIndex
CREATE UNIQUE INDEX "uploads_code_key" ON "uploads"("code");
`,
  )
  fs.writeFileSync(path.join(dir(TABLE), 'down.sql'), `-- DropTable\nDROP TABLE "uploads";\n\n-- DropEnum\nDROP TYPE "upload_state";\n`)
  fs.writeFileSync(
    path.join(dir(LABEL), 'migration.sql'),
    `-- AlterEnum
ALTER TYPE "upload_state" ADD VALUE 'failed';

-- DropIndex
DROP INDEX "uploads_code_key";

-- AlterTable
ALTER TABLE "uploads" ADD COLUMN "note" TEXT;
`,
  )
  fs.writeFileSync(
    path.join(dir(LABEL), 'down.sql'),
    `-- AlterEnum
BEGIN;
CREATE TYPE "upload_state_new" AS ENUM ('new', 'done');
ALTER TABLE "uploads" ALTER COLUMN "state" DROP DEFAULT;
ALTER TABLE "uploads" ALTER COLUMN "state" TYPE "upload_state_new" USING ("state"::text::"upload_state_new");
ALTER TYPE "upload_state" RENAME TO "upload_state_old";
ALTER TYPE "upload_state_new" RENAME TO "upload_state";
DROP TYPE "public"."upload_state_old";
ALTER TABLE "uploads" ALTER COLUMN "state" SET DEFAULT 'new';
INSERT INTO probe.events SELECT 'down', txid_current(), ${held};
COMMIT;

-- CreateIndex
CREATE UNIQUE INDEX "uploads_code_key" ON "uploads"("code");

-- AlterTable
ALTER TABLE "uploads" DROP COLUMN "note";
`,
  )
}

let prismaDir: string
const created: string[] = []
beforeAll(() => {
  prismaDir = copyPrismaDir('rollback')
  addMigrations(prismaDir)
})
afterAll(async () => {
  for (const name of created) await dropDatabase(name)
})

/** A database with the query module and both later migrations deployed, and an upload row. */
async function deployed(name: string): Promise<{ url: string; env: Record<string, string> }> {
  created.push(name)
  const url = await freshDatabase(name)
  const env = { QUERY_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  const [r] = await deploy({ module: 'query', env })
  expect(r.status, r.detail).toBe('applied')
  await query(url, `insert into uploads (id, code, state, note) values (1, 'a', 'done', 'first')`)
  // The probe the second migration's down.sql writes to (see addMigrations).
  await query(url, `create schema probe; create table probe.events (what text, xid bigint, locked boolean)`)
  return { url, env }
}

const applied = async (url: string) =>
  (
    await query<{ name: string }>(url, `select migration_name as name from _prisma_migrations where rolled_back_at is null order by started_at, migration_name`)
  ).map((r) => r.name)
const labels = async (url: string) => (await query<{ l: string }>(url, `select unnest(enum_range(null::upload_state))::text as l`)).map((r) => r.l)
const tables = async (url: string) =>
  (await query<{ t: string }>(url, `select tablename as t from pg_tables where schemaname = 'public' order by 1`)).map((r) => r.t)

describe('how far a rollback goes (issue 19 item 5)', () => {
  let url: string
  let env: Record<string, string>
  beforeAll(async () => ({ url, env } = await deployed('rollback_range')))

  test('attack: `rollback --steps 9` with 5 later migrations reverted 0_baseline and dropped every table; now refused (exit 2) saying how many there are, nothing changed', async () => {
    const before = await applied(url)
    expect(before).toHaveLength(6)
    const run = await runCli(['rollback', '--module', 'query', '--steps', '9', '--yes'], env)
    expect(run.exitCode, run.stdout + run.stderr).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toMatch(
      /^error: --steps 9 would go past 0_baseline: the query module has 5 migrations applied after it \(20261127155150_trigram_search, .*, 29990102000000_upload_failed_label\): give --steps 5 or fewer, or --all to revert 0_baseline as well/,
    )
    expect(await applied(url)).toEqual(before)
    expect(await tables(url)).toContain('file_metadata_cache')
  })

  test('attack: a bare `rollback --yes` reverted the whole history; now it needs --steps, --to or --all (exit 2), nothing changed', async () => {
    const before = await applied(url)
    const run = await runCli(['rollback', '--module', 'query', '--yes'], env)
    expect(run.exitCode, run.stdout + run.stderr).toBe(2)
    expect(run.stderr.trim()).toMatch(
      /^error: rollback was given no range: give one of --steps N .*--to <migration> .*or --all \(the whole history, 0_baseline too/,
    )
    expect(await applied(url)).toEqual(before)
    const both = await runCli(['rollback', '--module', 'query', '--all', '--steps', '1', '--yes'], env)
    expect(both.exitCode).toBe(2)
    expect(both.stderr).toMatch(/--steps and --all were given together/)
    expect(await applied(url)).toEqual(before)
  })

  test('--dry-run names every table whose rows would go and every column whose values would, counted exactly, in text and --json; nothing changes', async () => {
    await query(url, `insert into uploads (id, code) values (2, 'b'), (3, 'c')`)
    const before = await applied(url)
    const json = await runCli(['rollback', '--module', 'query', '--all', '--dry-run', '--json'], env)
    expect(json.exitCode, json.stderr).toBe(0)
    const plan = JSON.parse(json.stdout)
    expect(plan.status).toBe('would-roll-back')
    expect(plan.rowsLost).toEqual([
      { migration: LABEL, table: 'public.uploads', columns: ['note'], rows: 1 },
      { migration: TABLE, table: 'public.uploads', rows: 3 },
      { migration: '0_baseline', table: 'public.file_metadata_cache', rows: 0 },
      { migration: '0_baseline', table: 'public.search_history', rows: 0 },
      { migration: '0_baseline', table: 'public.download_statistics', rows: 0 },
    ])
    const text = await runCli(['rollback', '--module', 'query', '--to', '0_baseline', '--dry-run'], env)
    expect(text.exitCode, text.stderr).toBe(0)
    expect(text.stdout).toContain('rows that would go (counted now, exactly):')
    expect(text.stdout).toContain(`   public.uploads: the values of note in 1 row (${LABEL} drops the column)`)
    expect(text.stdout).toContain(`   public.uploads: 3 rows (${TABLE} drops the table)`)
    expect(text.stdout).not.toContain('file_metadata_cache: ')
    expect(await applied(url)).toEqual(before)
  })

  test('--all is the whole history, 0_baseline included', async () => {
    const run = await runCli(['rollback', '--module', 'query', '--all', '--yes', '--json'], env)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).migrations.at(-1)).toBe('0_baseline')
    expect(await applied(url)).toEqual([])
    expect(await tables(url)).toEqual(['_prisma_migrations'])
  })
})

describe("down.sql with Prisma's enum block: one transaction with its history row (issue 20)", () => {
  let url: string
  let env: Record<string, string>
  beforeAll(async () => {
    ;({ url, env } = await deployed('rollback_enum'))
    // Who deletes the history row, in which transaction, holding the migration lock or not.
    await query(
      url,
      `create function probe.forget() returns trigger language plpgsql as $$ begin insert into probe.events select 'forget', txid_current(), ${held}; return old; end $$`,
    )
    await query(url, `create trigger probe_forget after delete on _prisma_migrations for each row execute function probe.forget()`)
  })

  test('attack: a down.sql failing after the enum block exited 1 with the label gone, the history "applied", and only `could not create unique index`; now nothing of the step changes and the report names the migration, SQLSTATE, DETAIL and the next command', async () => {
    // Two rows that the unique index of the old schema cannot take.
    await query(url, `insert into uploads (id, code) values (2, 'a')`)
    const run = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes', '--json'], env)
    expect(run.exitCode, run.stdout + run.stderr).toBe(1)
    const r = JSON.parse(run.stdout)
    expect(r.status).toBe('failed')
    expect(r.migrations).toEqual([])
    expect(r.notRun).toEqual([LABEL])
    expect(r.failure).toMatchObject({
      migration: LABEL,
      sqlState: '23505',
      message: 'could not create unique index "uploads_code_key"',
      detail: 'Key (code)=(a) is duplicated.',
    })
    expect(r.failure.next).toMatch(
      new RegExp(
        `^nothing of ${LABEL} was changed .* and it stays applied: fix what the error names \\(the rows in the way, or .*query/migrations/${LABEL}/down.sql\\), then run npx artstore-db rollback --module query --steps 1 --yes$`,
      ),
    )
    // The enum block did not commit on its own: the label, the column and the history row are all still there.
    expect(await labels(url)).toEqual(['new', 'done', 'failed'])
    expect(await query(url, `select count(*)::int as n from information_schema.columns where table_name = 'uploads' and column_name = 'note'`)).toEqual([
      { n: 1 },
    ])
    expect((await applied(url)).at(-1)).toBe(LABEL)
    expect(await query(url, 'select * from probe.events')).toEqual([])

    const text = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], env)
    expect(text.exitCode).toBe(1)
    expect(text.stdout).toContain(`❌ query: rolling back ${LABEL} failed: 23505 could not create unique index "uploads_code_key"`)
    expect(text.stdout).toContain('   DETAIL: Key (code)=(a) is duplicated.')
    expect(text.stdout).toContain('then run npx artstore-db rollback --module query --steps 1 --yes')
  })

  test("attack: a view on the column its down.sql drops (the issue's case): exit 1 with the label gone; now the step changes nothing, and the report carries DETAIL and HINT", async () => {
    await query(url, `delete from uploads where id = 2`)
    await query(url, `create view probe.notes as select note from public.uploads`)
    const run = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes', '--json'], env)
    expect(run.exitCode, run.stdout + run.stderr).toBe(1)
    expect(JSON.parse(run.stdout).failure).toMatchObject({
      migration: LABEL,
      sqlState: '2BP01',
      detail: 'view probe.notes depends on column note of table uploads',
      hint: expect.stringMatching(/^Use DROP \.\.\. CASCADE/),
    })
    expect(await labels(url)).toEqual(['new', 'done', 'failed'])
    expect(await query(url, `select count(*)::int as n from pg_indexes where indexname = 'uploads_code_key'`)).toEqual([{ n: 0 }])
    expect((await applied(url)).at(-1)).toBe(LABEL)
    const text = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], env)
    expect(text.stdout).toContain('   HINT: Use DROP ... CASCADE')
    await query(url, `drop view probe.notes`)
  })

  test('attack: even when it succeeds, the history row was deleted after the COMMIT, in a transaction of its own without the lock; now one transaction, under the lock', async () => {
    const run = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], env)
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    const events = await query<{ what: string; xid: string; locked: boolean }>(url, 'select * from probe.events')
    expect(events.map((e) => e.what)).toEqual(['down', 'forget'])
    expect(events[1].xid).toBe(events[0].xid)
    expect(events.map((e) => e.locked)).toEqual([true, true])
    expect(await labels(url)).toEqual(['new', 'done'])
    expect((await applied(url)).at(-1)).toBe(TABLE)
    // And it deploys again.
    const [again] = await deploy({ module: 'query', env })
    expect(again.status, again.detail).toBe('applied')
    expect(await labels(url)).toEqual(['new', 'done', 'failed'])
  })
})
