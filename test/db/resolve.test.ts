// Recovering from a failed migration (P3009), as the README tells it: status names the command,
// resolve settles the migration, deploy goes on. Both ways: rolled back (then re-run) and applied by hand.
// Issue 19, item 2: both need a failed row, and --unapplied is the way out of a migration recorded
// applied whose changes are not there.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { BASELINE_NAME } from '../../src/baseline/baseline.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { modules } from '../../src/modules.ts'
import { resolve } from '../../src/resolve/resolve.ts'
import { status } from '../../src/status/status.ts'
import { verify } from '../../src/verify/verify.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { ConfirmationRequiredError } from '../../src/errors.ts'
import { historyOf } from '../helpers/expected.ts'
import { copyPrismaDir, edit } from '../helpers/prisma-copy.ts'

const created: string[] = []
afterAll(async () => {
  for (const name of created) await dropDatabase(name)
})

/** A database where the admin baseline fails half-way: its first enum type is already there. */
async function failedAdmin(name: string) {
  created.push(name)
  const url = await freshDatabase(name)
  await query(url, `create schema admin; create type admin.user_role_enum as enum ('x')`)
  const env = { ADMIN_DATABASE_URL: `${url}?schema=admin` }
  const [r] = await deploy({ module: 'admin', env })
  expect(r.status).toBe('failed')
  expect(r.detail).toMatch(/P3018[\s\S]*42710/)
  return { url, env }
}

const history = (url: string) =>
  query(
    url,
    `select migration_name, finished_at is not null as finished, rolled_back_at is not null as rolled_back from admin._prisma_migrations order by started_at`,
  )

describe('a failed migration', () => {
  test('status names the resolve command; rolled back, fixed, and deployed again', async () => {
    const { url, env } = await failedAdmin('resolve_rolled_back')
    const shown = await runCli(['status', '--module', 'admin'], env)
    expect(shown.exitCode).toBe(1)
    expect(shown.stdout).toContain(`failed: ${BASELINE_NAME}  → undo what it did, then npx artstore-db resolve --module admin --rolled-back ${BASELINE_NAME}`)
    // A deploy now refuses, as Prisma's does (P3009).
    expect((await deploy({ module: 'admin', env }))[0].detail).toContain('P3009')

    const dry = await resolve({ module: 'admin', env, rolledBack: BASELINE_NAME, dryRun: true })
    expect(dry.status).toBe('would-resolve')
    expect(await history(url)).toEqual([{ migration_name: BASELINE_NAME, finished: false, rolled_back: false }])

    const run = await runCli(['resolve', '--module', 'admin', '--rolled-back', BASELINE_NAME], env)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toContain(`✅ admin: ${BASELINE_NAME} marked rolled back: the next deploy runs it again`)
    expect(await history(url)).toEqual([{ migration_name: BASELINE_NAME, finished: false, rolled_back: true }])

    await query(url, 'drop type admin.user_role_enum') // the fix
    expect((await deploy({ module: 'admin', env }))[0]).toMatchObject({ status: 'applied', migrations: historyOf('admin') })
    expect((await status({ module: 'admin', env }))[0].state).toBe('up-to-date')
    expect((await verify({ module: 'admin', env }))[0].ok).toBe(true)
  })

  test('completed by hand, then marked applied: deploy goes on, the checklist passes', async () => {
    const { url, env } = await failedAdmin('resolve_applied')
    await query(url, 'drop type admin.user_role_enum')
    const sql = fs.readFileSync(path.join(modules.admin.migrationsDir, BASELINE_NAME, 'migration.sql'), 'utf8')
    await query(url, `set local search_path = admin; ${sql}`) // one implicit transaction: the setting ends with it
    const r = await resolve({ module: 'admin', env, applied: BASELINE_NAME })
    expect(r).toMatchObject({ module: 'admin', migration: BASELINE_NAME, action: 'applied', status: 'resolved' })
    // Deploy goes on from there: the migrations after the baseline, if any.
    expect((await deploy({ module: 'admin', env }))[0].migrations).toEqual(historyOf('admin').slice(1))
    expect((await status({ module: 'admin', env }))[0].state).toBe('up-to-date')
    expect((await verify({ module: 'admin', env }))[0].ok).toBe(true)
  })

  test('bad input: one line naming the fix, exit 2, nothing changed', async () => {
    const { url, env } = await failedAdmin('resolve_refused')
    const cases = [
      [['resolve', '--rolled-back', BASELINE_NAME], /^error: resolve acts on one module at a time: run npx artstore-db resolve --module/],
      [['resolve', '--module', 'admin'], /^error: give exactly one of --rolled-back, --applied and --unapplied: run/],
      [['resolve', '--module', 'admin', '--rolled-back', BASELINE_NAME, '--applied', BASELINE_NAME], /^error: give exactly one of/],
      [
        ['resolve', '--module', 'admin', '--rolled-back', '1_nothing'],
        /^error: 1_nothing has no failed row \(it never ran here, or was settled already\) in the admin module's history .*: see npx artstore-db status --module admin$/,
      ],
      [
        ['resolve', '--module', 'admin', '--applied', '1_nothing'],
        /^error: 1_nothing is not a migration folder of .* and so not in the admin module's history/,
      ],
    ] as const
    for (const [args, message] of cases) {
      const run = await runCli([...args], env)
      expect(run.exitCode, args.join(' ')).toBe(2)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr.trim()).toMatch(message)
    }
    expect(await history(url)).toEqual([{ migration_name: BASELINE_NAME, finished: false, rolled_back: false }])
  })
})

describe('issue 19, item 2: a migration that never ran is not "applied"', () => {
  test('attack: resolve --applied of a pending migration (no failed row) exited 0, and status and deploy then said up to date; now refused, exit 2, nothing written', async () => {
    created.push('resolve_pending')
    const url = await freshDatabase('resolve_pending')
    // The admin history as 0_baseline left it: later migrations of the project would be pending too.
    const env = { ADMIN_DATABASE_URL: `${url}?schema=admin`, ARTSTORE_PRISMA_DIR: copyPrismaDir('resolve-pending', { at: 'baseline' }) }
    for (const flag of ['--applied', '--rolled-back']) {
      const run = await runCli(['resolve', '--module', 'admin', flag, BASELINE_NAME], env)
      expect(run.exitCode, `${flag}: ${run.stdout}`).toBe(2)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr.trim()).toMatch(
        new RegExp(
          `^error: ${BASELINE_NAME} has no failed row \\(it never ran here, or was settled already\\) in the admin module's history .*: see npx artstore-db status --module admin$`,
        ),
      )
    }
    expect(await query(url, `select to_regclass('admin._prisma_migrations') as t`)).toEqual([{ t: null }])
    expect((await status({ module: 'admin', env }))[0]).toMatchObject({ state: 'pending', pending: [BASELINE_NAME] })
  })

  test('resolve --unapplied: the newest applied migration whose changes are not there loses its row (dry run, --yes, --json), deploy runs it again; refused for an older one, one whose changes are there, and without --yes', async () => {
    created.push('resolve_unapplied')
    const url = await freshDatabase('resolve_unapplied')
    const NEWEST = '20261127155152_trigram_search_idx_file_metadata_description_trgm'
    const OLDER = '20261127155151_trigram_search_idx_file_metadata_filename_trgm'
    // A query history of its own: the baseline and the three trigram migrations, whatever the project adds later.
    const prismaDir = copyPrismaDir('resolve-unapplied', { at: 'baseline' })
    const live = modules.query.migrationsDir
    for (const m of fs.readdirSync(live).filter((f) => f.includes('_trigram_search') && f <= NEWEST))
      fs.cpSync(path.join(live, m), path.join(prismaDir, 'query', 'migrations', m), { recursive: true })
    // ... and the schema they make, for verify.
    const schemaFile = path.join(prismaDir, 'query', 'schema.prisma')
    edit(schemaFile, 'output   = "../../generated/query"\n', 'output   = "../../generated/query"\n  previewFeatures = ["postgresqlExtensions"]\n')
    edit(schemaFile, 'provider = "postgresql"\n', 'provider = "postgresql"\n  extensions = [pg_trgm]\n')
    edit(
      schemaFile,
      '  @@index([username, createdAt], map: "idx_file_metadata_username_created")\n',
      '  @@index([username, createdAt], map: "idx_file_metadata_username_created")\n  @@index([filename(ops: raw("gin_trgm_ops"))], map: "idx_file_metadata_filename_trgm", type: Gin)\n  @@index([description(ops: raw("gin_trgm_ops"))], map: "idx_file_metadata_description_trgm", type: Gin)\n',
    )
    const env = { QUERY_DATABASE_URL: `${url}?schema=query`, ARTSTORE_PRISMA_DIR: prismaDir }
    expect((await deploy({ module: 'query', env }))[0].status).toBe('applied')
    // Recorded applied, its change gone (what an edited history or an earlier release's resolve --applied leaves).
    await query(url, 'drop index query.idx_file_metadata_description_trgm')
    const rows = () => query(url, `select migration_name from query._prisma_migrations order by started_at, migration_name`)
    const all = await rows()
    expect(all).toHaveLength(4)

    expect(() => resolve({ module: 'query', env, unapplied: NEWEST })).toThrow(ConfirmationRequiredError)
    const refusals = [
      [
        ['--unapplied', NEWEST],
        /^error: resolve --unapplied removes the history row of .*: add --yes to remove it, or --dry-run to check it, changing nothing$/,
      ],
      [
        ['--unapplied', OLDER, '--yes'],
        new RegExp(
          `^error: cannot mark ${OLDER} of the query module unapplied: ${NEWEST} was applied after it: .*rollback --module query --to ${OLDER} --yes\\)$`,
        ),
      ],
      [['--unapplied', '1_nothing', '--yes'], /^error: 1_nothing is not applied in the query module's history/],
      [
        ['--applied', NEWEST],
        /^error: .* is already applied in the query module's history .*: if its changes are not in the database, npx artstore-db resolve --module query --unapplied .* --yes; else see npx artstore-db status --module query$/,
      ],
    ] as const
    for (const [args, message] of refusals) {
      const run = await runCli(['resolve', '--module', 'query', ...args], env)
      expect(run.exitCode, args.join(' ')).toBe(2)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr.trim()).toMatch(message)
    }
    expect(await rows()).toEqual(all)

    const dry = await runCli(['resolve', '--module', 'query', '--unapplied', NEWEST, '--dry-run', '--json'], env)
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(JSON.parse(dry.stdout)).toMatchObject({ module: 'query', migration: NEWEST, action: 'unapplied', status: 'would-resolve' })
    expect(await rows()).toEqual(all)

    const run = await runCli(['resolve', '--module', 'query', '--unapplied', NEWEST, '--yes'], env)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toContain(`✅ query: ${NEWEST} marked unapplied (its history row removed): the next deploy runs it again`)
    expect(await rows()).toEqual(all.slice(0, 3))
    expect((await status({ module: 'query', env }))[0]).toMatchObject({ state: 'pending', pending: [NEWEST] })
    expect((await deploy({ module: 'query', env }))[0]).toMatchObject({ status: 'applied', migrations: [NEWEST] })
    expect((await verify({ module: 'query', env }))[0].ok).toBe(true)

    // Its changes are there now: that is a rollback's work, not this.
    const there = await runCli(['resolve', '--module', 'query', '--unapplied', NEWEST, '--yes'], env)
    expect(there.exitCode).toBe(2)
    expect(there.stderr.trim()).toMatch(/its changes are in the database: to revert them, npx artstore-db rollback --module query --steps 1 --yes$/)
  })
})
