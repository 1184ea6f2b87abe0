// Issue 19, item 1: an INVALID index (pg_index.indisvalid = false, what an interrupted or failed
// CREATE INDEX CONCURRENTLY leaves) is never green. The recovery of an interrupted build drops and
// rebuilds it; verify and status name it with its fix; resolve --applied refuses it. Item 9a: a deploy
// that fails part-way names what was applied apart from what failed.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { deploy } from '../../src/deploy/deploy.ts'
import { migrateCheck } from '../../src/migrate/check.ts'
import { projectRoot } from '../../src/modules.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { status } from '../../src/status/status.ts'
import { verify } from '../../src/verify/verify.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const database = freshDatabasesOfThisFile()

const FILENAME_IDX = '20261127155151_trigram_search_idx_file_metadata_filename_trgm'

/** pg_index's verdict on one index of the query schema. */
const validity = async (url: string, index: string) =>
  (
    await query<{ valid: boolean }>(
      url,
      `select x.indisvalid and x.indisready as valid from pg_index x join pg_class i on i.oid = x.indexrelid join pg_namespace n on n.oid = i.relnamespace
        where n.nspname = 'query' and i.relname = $1`,
      [index],
    )
  ).map((r) => r.valid)

const historyRows = (url: string) =>
  query(
    url,
    `select migration_name, finished_at is not null as finished, rolled_back_at is not null as rolled_back, logs is not null as logged
       from query._prisma_migrations order by started_at, migration_name`,
  )

/** Waits until a backend of `url`'s database runs a CREATE INDEX CONCURRENTLY that waits for a lock; its pid. */
async function waitingBuild(url: string): Promise<number> {
  for (let i = 0; i < 1200; i++) {
    const [w] = await query<{ pid: number }>(
      url,
      `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
          and query ilike '%create index concurrently%' and pid <> pg_backend_pid()`,
    )
    if (w) return w.pid
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('no CREATE INDEX CONCURRENTLY ever waited')
}

async function gone(url: string, pid: number): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (!(await query(url, 'select 1 from pg_stat_activity where pid = $1', [pid])).length) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`backend ${pid} never ended`)
}

/** A session that holds a writer's lock on the cache table, which every CREATE INDEX CONCURRENTLY of it waits for. */
async function writerOnCache(url: string): Promise<pg.Client> {
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  await blocker.query('begin')
  await blocker.query('lock table query.file_metadata_cache in row exclusive mode')
  return blocker
}

describe.concurrent('an INVALID index is never green', () => {
  test('attack: deploy SIGKILLed while its CREATE INDEX CONCURRENTLY waits, the orphaned build cancelled: the next deploy said "had committed: marked applied" over an INVALID index; now it drops it and builds it again', async () => {
    const url = await database('invalid_interrupted')
    const env = { QUERY_DATABASE_URL: `${url}?schema=query` }
    expect((await deploy({ module: 'query', env }))[0].status).toBe('applied')
    expect((await rollback({ module: 'query', env, steps: 2, yes: true })).migrations).toHaveLength(2)

    const blocker = await writerOnCache(url)
    const child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'artstore-db.mjs'), 'deploy', '--module', 'query'], {
      env: { ...process.env, DATABASE_URL: '', ADMIN_DATABASE_URL: '', STORAGE_ELEMENT_DATABASE_URL: '', ARTSTORE_DOTENV: '0', ...env },
      stdio: 'ignore',
    })
    const exited = new Promise((r) => child.on('close', r))
    const build = await waitingBuild(url)
    child.kill('SIGKILL')
    await exited
    await query(url, 'select pg_cancel_backend($1)', [build])
    await gone(url, build)
    await blocker.query('rollback')
    await blocker.end()
    // The state the issue found: the migration's row unfinished with nothing logged, its index INVALID.
    expect(await validity(url, 'idx_file_metadata_filename_trgm')).toEqual([false])
    expect((await historyRows(url)).at(-1)).toEqual({ migration_name: FILENAME_IDX, finished: false, rolled_back: false, logged: false })
    // Status names what deploy does here (a lone CREATE INDEX CONCURRENTLY, outside a transaction): drop it and build it again.
    const [shown] = await status({ module: 'query', env })
    expect(shown).toMatchObject({
      state: 'failed',
      interrupted: { migration: FILENAME_IDX, deploy: 'rolled-back', dropsInvalid: ['idx_file_metadata_filename_trgm'] },
      next: 'npx artstore-db deploy --module query',
      invalidIndexes: [
        {
          name: 'idx_file_metadata_filename_trgm',
          fix: `npx artstore-db deploy --module query (${FILENAME_IDX} was interrupted: deploy drops it and builds it again)`,
        },
      ],
    })
    expect(await validity(url, 'idx_file_metadata_filename_trgm')).toEqual([false]) // status changed nothing

    const again = await runCli(['deploy', '--module', 'query'], env)
    expect(again.exitCode, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).toContain(
      `${FILENAME_IDX} was left interrupted by an earlier deploy; the database shows it had not finished building idx_file_metadata_filename_trgm (left INVALID): dropped, marked rolled back, and applied again`,
    )
    expect(again.stdout).not.toContain('had committed: marked applied')
    expect(await validity(url, 'idx_file_metadata_filename_trgm')).toEqual([true])
    expect(await validity(url, 'idx_file_metadata_description_trgm')).toEqual([true])
    expect((await status({ module: 'query', env }))[0]).toMatchObject({ state: 'up-to-date', invalidIndexes: [] })
    expect((await verify({ module: 'query', env }))[0].ok).toBe(true)
  })

  test('attack: a migration recorded applied with its index INVALID (what earlier releases left) passed status and verify; now both name it and its fix, and the fix makes them pass', async () => {
    const url = await database('invalid_applied')
    const env = { QUERY_DATABASE_URL: `${url}?schema=query` }
    expect((await deploy({ module: 'query', env }))[0].status).toBe('applied')
    // The index built again CONCURRENTLY, and the build given up (a lock timeout) while a writer holds the table.
    await query(url, 'drop index query.idx_file_metadata_filename_trgm')
    const blocker = await writerOnCache(url)
    const builder = new pg.Client({ connectionString: url })
    await builder.connect()
    await builder.query(`set search_path = query; set lock_timeout = '100ms'`)
    await expect(
      builder.query('CREATE INDEX CONCURRENTLY "idx_file_metadata_filename_trgm" ON "file_metadata_cache" USING GIN ("filename" gin_trgm_ops)'),
    ).rejects.toThrow(/lock timeout/)
    await builder.end()
    await blocker.query('rollback')
    await blocker.end()
    expect(await validity(url, 'idx_file_metadata_filename_trgm')).toEqual([false])

    const fix = 'REINDEX INDEX CONCURRENTLY "query"."idx_file_metadata_filename_trgm"'
    const [report] = await verify({ module: 'query', env })
    expect(report.ok).toBe(false)
    expect(report.items.filter((i) => !i.ok)).toEqual([
      {
        category: 'index',
        name: 'idx_file_metadata_filename_trgm is valid (usable by queries)',
        ok: false,
        expected: 'valid',
        actual: `INVALID on file_metadata_cache (left by ${FILENAME_IDX}: an interrupted or failed CREATE INDEX CONCURRENTLY): rebuild it: ${fix}; then npx artstore-db verify --module query`,
      },
    ])
    const verified = await runCli(['verify', '--module', 'query'], env)
    expect(verified.exitCode).toBe(1)
    expect(verified.stdout).toContain(
      `❌ index idx_file_metadata_filename_trgm is valid (usable by queries): expected valid, found INVALID on file_metadata_cache`,
    )

    const shown = await runCli(['status', '--module', 'query'], env)
    expect(shown.exitCode).toBe(1)
    expect(shown.stdout).toMatch(/^❌ query: up-to-date — 4 applied, 0 pending, 1 INVALID index {2}\(/)
    expect(shown.stdout).toContain(
      `INVALID index: idx_file_metadata_filename_trgm on file_metadata_cache (from ${FILENAME_IDX}, applied), never used by a query  → rebuild it: ${fix}`,
    )
    const [json] = await status({ module: 'query', env })
    expect(json).toMatchObject({
      state: 'up-to-date',
      invalidIndexes: [{ name: 'idx_file_metadata_filename_trgm', migration: FILENAME_IDX, migrationState: 'applied' }],
    })
    expect(json.next).toContain(fix)

    await query(url, fix)
    expect((await verify({ module: 'query', env }))[0].ok).toBe(true)
    expect((await status({ module: 'query', env }))[0]).toMatchObject({ state: 'up-to-date', invalidIndexes: [] })
  })

  test('attack: a unique CONCURRENTLY build failed over duplicate rows, and resolve --applied marked it applied (verify then passed with duplicates under an INVALID unique index); now it is refused with the fix, which works; the deploy that failed names what it applied apart', async () => {
    const url = await database('invalid_unique')
    const prismaDir = copyPrismaDir('invalid-index-unique')
    const env = { QUERY_DATABASE_URL: `${url}?schema=query`, ARTSTORE_PRISMA_DIR: prismaDir }
    expect((await deploy({ module: 'query', env }))[0].status).toBe('applied')
    // Later migrations: the unique index dropped (and two rows sharing a hash arrive); a backfill, and the
    // unique index built again CONCURRENTLY, deployed together.
    const dir = path.join(prismaDir, 'query', 'migrations')
    const write = (name: string, sql: string) => {
      fs.mkdirSync(path.join(dir, name))
      fs.writeFileSync(path.join(dir, name, 'migration.sql'), sql)
    }
    write('29991231000000_drop_sha256_unique', `DROP INDEX "ix_file_metadata_cache_sha256_hash";\n`)
    expect((await deploy({ module: 'query', env }))[0].status).toBe('applied')
    const row = (id: string) => `('${id}', '${id}.bin', '${id}.bin', 1, '${'a'.repeat(64)}', 'u', 'se-01', 'http://se-01', now(), now())`
    await query(
      url,
      `insert into query.file_metadata_cache (id, filename, storage_filename, file_size, sha256_hash, username, storage_element_id, storage_element_url, created_at, updated_at) values ${row('f1')}, ${row('f2')}`,
    )
    const BACKFILL = '29991231000001_backfill_tags'
    write(BACKFILL, `UPDATE "file_metadata_cache" SET "tags" = '{}' WHERE "tags" IS NULL;\n`)
    const UNIQUE = '29991231000002_sha256_unique_concurrently'
    write(UNIQUE, `CREATE UNIQUE INDEX CONCURRENTLY "ix_file_metadata_cache_sha256_hash" ON "file_metadata_cache"("sha256_hash");\n`)

    const failed = await runCli(['deploy', '--module', 'query'], env)
    expect(failed.exitCode).toBe(1)
    expect(failed.stdout).toMatch(new RegExp(`^❌ query: failed: ${UNIQUE}; applied before it: ${BACKFILL} {2}\\(`))
    const [json] = await deploy({ module: 'query', env })
    expect(json).toMatchObject({ status: 'failed', failedMigration: UNIQUE, migrations: [] }) // refused (P3009) this time: nothing applied
    expect(await validity(url, 'ix_file_metadata_cache_sha256_hash')).toEqual([false])
    const before = await historyRows(url)
    expect(before.at(-1)).toEqual({ migration_name: UNIQUE, finished: false, rolled_back: false, logged: true })

    const drop = 'DROP INDEX CONCURRENTLY "query"."ix_file_metadata_cache_sha256_hash"'
    const refused = await runCli(['resolve', '--module', 'query', '--applied', UNIQUE], env)
    expect(refused.exitCode, refused.stdout).toBe(2)
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(refused.stderr.trim()).toBe(
      `error: ${UNIQUE} cannot be marked applied: its index ix_file_metadata_cache_sha256_hash is INVALID (a CREATE INDEX CONCURRENTLY that did not finish): remove the rows its key duplicates, then ${drop}; then npx artstore-db resolve --module query --rolled-back ${UNIQUE} and npx artstore-db deploy --module query (it builds it again)`,
    )
    // Nor "undone" while it is there: deploy would fail on it.
    const early = await runCli(['resolve', '--module', 'query', '--rolled-back', UNIQUE], env)
    expect(early.exitCode).toBe(2)
    expect(early.stderr.trim()).toBe(
      `error: ${UNIQUE} cannot be marked rolled back: its index ix_file_metadata_cache_sha256_hash is still there, INVALID (a CREATE INDEX CONCURRENTLY that did not finish), and deploy would fail on it: remove the rows its key duplicates, then ${drop}; then run this again`,
    )
    expect(await historyRows(url)).toEqual(before)
    expect((await status({ module: 'query', env }))[0].invalidIndexes).toMatchObject([
      { name: 'ix_file_metadata_cache_sha256_hash', migration: UNIQUE, migrationState: 'failed' },
    ])
    const [checked] = await verify({ module: 'query', env })
    expect(checked.items.find((i) => i.name === 'ix_file_metadata_cache_sha256_hash is valid (usable by queries)')?.ok).toBe(false)

    // The fix as named.
    await query(url, `delete from query.file_metadata_cache where id = 'f2'`)
    await query(url, drop)
    expect((await runCli(['resolve', '--module', 'query', '--rolled-back', UNIQUE], env)).exitCode).toBe(0)
    expect((await deploy({ module: 'query', env }))[0]).toMatchObject({ status: 'applied', migrations: [UNIQUE] })
    expect(await validity(url, 'ix_file_metadata_cache_sha256_hash')).toEqual([true])
    expect((await verify({ module: 'query', env }))[0].ok).toBe(true)
  })

  test('migrate check: a history whose replay leaves an INVALID index (ON ONLY a partitioned table, a partition left unattached) passed that point unseen; now it is a problem naming the migration', async () => {
    const url = await database('invalid_check')
    const prismaDir = copyPrismaDir('invalid-index-check')
    const env = { QUERY_DATABASE_URL: `${url}?schema=query`, ARTSTORE_PRISMA_DIR: prismaDir }
    const name = '29991231000000_events'
    const folder = path.join(prismaDir, 'query', 'migrations', name)
    fs.mkdirSync(folder)
    fs.writeFileSync(
      path.join(folder, 'migration.sql'),
      `CREATE TABLE "events" ("id" INTEGER NOT NULL, "at" DATE NOT NULL) PARTITION BY RANGE ("at");
CREATE TABLE "events_2026" PARTITION OF "events" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX "idx_events_at" ON ONLY "events" ("at");
`,
    )
    fs.writeFileSync(path.join(folder, 'down.sql'), 'DROP TABLE "events";\n')
    const [r] = await migrateCheck({ module: 'query', env })
    expect(r.ok).toBe(false)
    expect(r.problems).toContain(
      `the history leaves index idx_events_at on events INVALID (pg_index.indisvalid: never used by a query): fix ${name} (an index ON ONLY a partitioned table needs every partition's index attached)`,
    )
  })
})
