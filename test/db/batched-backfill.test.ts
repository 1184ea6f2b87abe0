// Batched backfills (`-- artstore: batched table=… key=… size=…`): a deploy killed mid-way (SIGKILL)
// is resumed by the next plain deploy, every row backfilled exactly once (the backfill itself counts
// its updates per row); and single-row UPDATEs of the table from another session never wait longer
// than the batch bound while it runs.
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { runCli, startCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { until, untilOthersGone } from '../helpers/interrupt.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const database = freshDatabasesOfThisFile()

/** Rows of the backfilled table; each costs the backfill about 2 ms (pace()), so the whole is seconds long. */
const ROWS = 3000
const MIGRATION = '20270101000000_backfill_items'
/** The batch bound the deploys run with (ARTSTORE_BATCH_TIMEOUT, its default written out). */
const BOUND_MS = 1_000

/**
 * A fresh database with admin deployed, a table public.backfill_items of ROWS rows (`dst` to fill from
 * `src`, `backfills` counting the backfill's updates of each row, `touched` the probe's), and the
 * batched migration written into a prisma copy.
 */
async function setup(name: string) {
  const url = await database(`batched_${name}`)
  const prismaDir = copyPrismaDir(`batched-backfill-${name}`, { at: 'baseline' })
  const env = { ADMIN_DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir, ARTSTORE_BATCH_TIMEOUT: `${BOUND_MS}ms` }
  const run = await runCli(['deploy', '--module', 'admin'], env)
  expect(run.exitCode, run.stderr).toBe(0)
  await query(
    url,
    `create table public.backfill_items (id bigint primary key, src int not null, dst int, backfills int not null default 0, touched int not null default 0);
     insert into public.backfill_items (id, src) select i, i % 97 from generate_series(1, ${ROWS}) i;
     create function public.pace() returns boolean language plpgsql volatile as $$ begin perform pg_sleep(0.002); return true; end $$;`,
  )
  const dir = path.join(prismaDir, 'admin', 'migrations', MIGRATION)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'migration.sql'),
    `-- ${MIGRATION}: a data migration\n-- artstore: batched table=backfill_items key=id size=20\nUPDATE backfill_items SET dst = src * 2, backfills = backfills + 1\n WHERE id BETWEEN $1 AND $2 AND pace();\n`,
  )
  fs.writeFileSync(path.join(dir, 'down.sql'), 'UPDATE backfill_items SET dst = NULL;\n')
  const counts = async () =>
    (
      await query<{ once: number; never: number; more: number; wrong: number }>(
        url,
        `select count(*) filter (where backfills = 1)::int as once, count(*) filter (where backfills = 0)::int as never,
                count(*) filter (where backfills > 1)::int as more, count(*) filter (where backfills > 0 and dst is distinct from src * 2)::int as wrong
           from public.backfill_items`,
      )
    )[0]
  const history = () =>
    query<{ finished: boolean; rolled_back: boolean; failed: boolean }>(
      url,
      `select finished_at is not null as finished, rolled_back_at is not null as rolled_back, logs is not null as failed
         from public._prisma_migrations where migration_name = $1 order by started_at`,
      [MIGRATION],
    )
  return { url, env, counts, history }
}

describe('a batched backfill', () => {
  test('killed mid-way (SIGKILL), then resumed by a plain deploy: every row backfilled exactly once', async () => {
    const s = await setup('kill')
    const cli = startCli(['deploy', '--module', 'admin'], s.env)
    // Some batches committed, far from all: then the process dies without any clean-up.
    await until('a batch committed', async () => (await s.counts()).once > 0)
    cli.child.kill('SIGKILL')
    const killed = await cli.done
    expect(killed.signal).toBe('SIGKILL')
    // Its server sessions go (client_connection_check_interval), rolling back the batch in progress.
    await untilOthersGone(s.url)
    const mid = await s.counts()
    expect(mid.once).toBeGreaterThan(0)
    expect(mid.never).toBeGreaterThan(0)
    expect(mid.more).toBe(0)
    const progress = await query<{ last_key: string; batches: number }>(s.url, `select last_key, batches from artstore.batched_backfills`)
    expect(progress).toHaveLength(1)
    // What the progress records is exactly what is done: the keys up to last_key, each once.
    expect(mid.once).toBe(Number(progress[0].last_key))
    expect(await s.history()).toEqual([{ finished: false, rolled_back: false, failed: false }])

    const resumed = await runCli(['deploy', '--module', 'admin', '--json'], s.env)
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    const [r] = JSON.parse(resumed.stdout)
    expect(r).toMatchObject({
      status: 'applied',
      migrations: [MIGRATION],
      recovered: { migration: MIGRATION, as: 'resumed', progress: { batches: progress[0].batches } },
    })
    expect(r.backfills).toEqual([expect.objectContaining({ migration: MIGRATION, resumed: true, done: true, walked: ROWS, changed: ROWS })])
    expect(await s.counts()).toEqual({ once: ROWS, never: 0, more: 0, wrong: 0 })
    expect(await s.history()).toEqual([
      { finished: false, rolled_back: true, failed: false },
      { finished: true, rolled_back: false, failed: false },
    ])
    // Done: its progress row is gone (a rollback and a new deploy would start it anew).
    expect(await query(s.url, 'select * from artstore.batched_backfills')).toEqual([])
    const status = await runCli(['status', '--module', 'admin'], s.env)
    expect(status.exitCode, status.stdout).toBe(0)
  })

  test('concurrent single-row UPDATEs of the table never wait longer than the batch bound', async () => {
    const s = await setup('waits')
    const cli = startCli(['deploy', '--module', 'admin', '--json'], s.env)
    // A probe session updates rows just ahead of the backfill, one row per statement (autocommit),
    // timing each, while the deploy runs.
    const probe = new pg.Client({ connectionString: s.url.replace(/\?.*$/, ''), application_name: 'probe' })
    await probe.connect()
    const waits: number[] = []
    let during = 0
    let running = true
    void cli.done.then(() => (running = false))
    try {
      while (running) {
        const done = await probe
          .query<{ last: string | null }>(`select coalesce((select last_key from artstore.batched_backfills limit 1), '0') as last`)
          .catch(() => ({ rows: [{ last: '0' }] }))
        const ahead = Number(done.rows[0].last ?? 0) + 1 + Math.floor(Math.random() * 40)
        const t0 = performance.now()
        await probe.query('update public.backfill_items set touched = touched + 1 where id = $1', [Math.min(ahead, ROWS)])
        waits.push(performance.now() - t0)
        const c = await s.counts()
        if (c.once > 0 && c.never > 0) during++
      }
    } finally {
      await probe.end()
    }
    const run = await cli.done
    expect(run.exitCode, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)[0]).toMatchObject({ status: 'applied', migrations: [MIGRATION] })
    expect(await s.counts()).toEqual({ once: ROWS, never: 0, more: 0, wrong: 0 })
    // The probe ran all through the backfill, and no statement of it waited longer than the bound
    // (each batch's statement_timeout), with a margin for a loaded machine.
    expect(during).toBeGreaterThan(20)
    expect(Math.max(...waits)).toBeLessThan(BOUND_MS + 1_500)
  })
})
