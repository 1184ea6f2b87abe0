// `status` of a batched backfill killed mid-way (SIGKILL): the migration's history row is left
// unfinished, and status shows how far its committed batches got (the key recorded in
// artstore.batched_backfills, batches, rows, when the last one committed) and names deploy, which
// goes on from there, as the next command; not the resolve of a failed migration.
import { expect, test } from 'vitest'
import { runCli, startCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { addMigration, until, untilOthersGone } from '../helpers/interrupt.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const database = freshDatabasesOfThisFile()
const ROWS = 3000
const MIGRATION = '20270101000000_backfill_items'

test('status after a batched backfill killed mid-way: its recorded key, batches and last batch, in text and JSON, and deploy as the next command', async () => {
  const url = await database('batched_status')
  const prismaDir = copyPrismaDir('batched-status', { at: 'baseline' })
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
  expect((await runCli(['deploy', '--module', 'admin'], env)).exitCode).toBe(0)
  await query(
    url,
    `create table public.backfill_items (id bigint primary key, src int not null, dst int);
     insert into public.backfill_items (id, src) select i, i % 97 from generate_series(1, ${ROWS}) i;
     analyze public.backfill_items;
     create function public.pace() returns boolean language plpgsql volatile as $$ begin perform pg_sleep(0.002); return true; end $$;`,
  )
  addMigration(
    prismaDir,
    MIGRATION,
    `-- ${MIGRATION}: a data migration\n-- artstore: batched table=backfill_items key=id size=20\nUPDATE backfill_items SET dst = src * 2\n WHERE id BETWEEN $1 AND $2 AND pace();\n`,
    { down: 'UPDATE backfill_items SET dst = NULL;\n' },
  )

  const cli = startCli(['deploy', '--module', 'admin'], env)
  await until(
    'some batches committed',
    async () => (await query(url, `select 1 from public.backfill_items where dst is not null offset 199 limit 1`)).length > 0,
  )
  cli.child.kill('SIGKILL')
  expect((await cli.done).signal).toBe('SIGKILL')
  await untilOthersGone(url)
  const [p] = await query<{ last_key: string; batches: number; walked: number; changed: number }>(
    url,
    `select last_key, batches, rows_walked::int as walked, rows_changed::int as changed from artstore.batched_backfills`,
  )
  expect(Number(p.last_key)).toBeGreaterThan(0)
  expect(Number(p.last_key)).toBeLessThan(ROWS)

  const json = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(json.exitCode, json.stderr).toBe(1)
  const [s] = JSON.parse(json.stdout)
  expect(s).toMatchObject({
    state: 'failed',
    failed: [MIGRATION],
    next: 'npx artstore-db deploy --module admin',
    backfills: [
      {
        migration: MIGRATION,
        table: 'backfill_items',
        key: 'id',
        lastKey: p.last_key,
        maxKey: String(ROWS),
        batches: p.batches,
        walked: p.walked,
        changed: p.changed,
        estimatedRows: ROWS,
        next: 'resumes',
      },
    ],
  })
  const [b] = s.backfills
  expect(Date.now() - Date.parse(b.lastBatchAt)).toBeLessThan(120_000)
  expect(Date.parse(b.startedAt)).toBeLessThanOrEqual(Date.parse(b.lastBatchAt))
  expect(b.secondsSinceLastBatch).toBeLessThan(120)

  const text = await runCli(['status', '--module', 'admin'], env)
  expect(text.exitCode).toBe(1)
  expect(text.stdout).toContain(
    `   unfinished: ${MIGRATION}, a batched backfill of backfill_items interrupted (no error logged)  → npx artstore-db deploy --module admin`,
  )
  expect(text.stdout).not.toContain('resolve')
  expect(text.stdout).toContain(
    `   backfill ${MIGRATION}: key id at ${p.last_key} of ${ROWS}, ${p.walked} of ~${ROWS} rows walked (${Math.floor((100 * p.walked) / ROWS)} %), ${p.batches} ${p.batches === 1 ? 'batch' : 'batches'}, ${p.changed} rows changed, last batch committed ${b.lastBatchAt} (`,
  )
  expect(text.stdout).toContain(`; the next deploy goes on after key ${p.last_key}`)

  // The hint holds: deploy goes on from there, and status then has no backfill left to show.
  const resumed = await runCli(['deploy', '--module', 'admin', '--json'], env)
  expect(resumed.exitCode, resumed.stderr).toBe(0)
  expect(JSON.parse(resumed.stdout)[0]).toMatchObject({ status: 'applied', recovered: { as: 'resumed', progress: { lastKey: p.last_key } } })
  const after = await runCli(['status', '--module', 'admin', '--json'], env)
  expect(after.exitCode).toBe(0)
  expect(JSON.parse(after.stdout)[0]).toMatchObject({ state: 'up-to-date', backfills: [] })
}, 300_000)
