// Recovering from a failed migration (P3009), as the README tells it: status names the command,
// resolve settles the migration, deploy goes on. Both ways: rolled back (then re-run) and applied by hand.
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
import { historyOf } from '../helpers/expected.ts'

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
      [['resolve', '--module', 'admin'], /^error: give exactly one of --rolled-back and --applied: run/],
      [['resolve', '--module', 'admin', '--rolled-back', BASELINE_NAME, '--applied', BASELINE_NAME], /^error: give exactly one of/],
      [
        ['resolve', '--module', 'admin', '--rolled-back', '1_nothing'],
        /^error: 1_nothing has no failed row in the admin module's history .*: see npx artstore-db status --module admin$/,
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
