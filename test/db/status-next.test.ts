// Issue 19, item 9d: `status` names the right next command for each state, never `deploy` for a
// history that deploy refuses.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { BASELINE_NAME } from '../../src/baseline/baseline.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { status } from '../../src/status/status.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let url: string
const env = () => ({ ADMIN_DATABASE_URL: `${url}?schema=admin` })

beforeAll(async () => {
  url = await freshDatabase('status_next')
  expect((await deploy({ module: 'admin', env: env() }))[0].status).toBe('applied')
})
afterAll(() => dropDatabase('status_next'))

/** Runs `fn` with the history changed by `change`, then puts the history back. */
async function withHistory(change: string, fn: () => Promise<void>): Promise<void> {
  await query(url, 'create table admin.saved_history as select * from admin._prisma_migrations')
  await query(url, change)
  try {
    await fn()
  } finally {
    await query(
      url,
      'delete from admin._prisma_migrations; insert into admin._prisma_migrations select * from admin.saved_history; drop table admin.saved_history',
    )
  }
}

const unknownRow = `insert into admin._prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
  values (gen_random_uuid()::text, 'x', '99991231000000_from_elsewhere', now(), now(), 1)`

test('attack: a diverged history with a pending migration was told "→ npx artstore-db deploy", which refuses it; now status names what to do instead', async () => {
  await withHistory(`delete from admin._prisma_migrations where migration_name = '${BASELINE_NAME}'; ${unknownRow}`, async () => {
    const [s] = await status({ module: 'admin', env: env() })
    expect(s).toMatchObject({ state: 'diverged', pending: [BASELINE_NAME], unknown: ['99991231000000_from_elsewhere'] })
    expect((await deploy({ module: 'admin', env: env() }))[0]).toMatchObject({ status: 'failed' }) // what the old hint led to
    const run = await runCli(['status', '--module', 'admin'], env())
    expect(run.exitCode).toBe(1)
    expect(run.stdout).not.toContain('→ npx artstore-db deploy')
    expect(run.stdout).toContain(
      '   in the database but not on disk: 99991231000000_from_elsewhere  → deploy refuses this history (99991231000000_from_elsewhere applied here, not in prisma/admin/migrations): run artstore-db from the checkout that has these migrations',
    )
    expect(run.stdout).toContain(`   pending: ${BASELINE_NAME} (deploy applies them once the above is put right)`)
    expect(JSON.parse((await runCli(['status', '--module', 'admin', '--json'], env())).stdout)[0].next).toMatch(/^deploy refuses this history/)
  })
})

test.each([
  ['up-to-date', 'select 1', undefined],
  ['pending', `delete from admin._prisma_migrations`, /^npx artstore-db deploy --module admin$/],
  [
    'modified',
    `update admin._prisma_migrations set checksum = 'edited'`,
    /^restore prisma\/admin\/migrations\/0_baseline\/migration.sql as it was deployed .*: npx artstore-db migrate new --module admin --name <change>$/,
  ],
  [
    'failed',
    `update admin._prisma_migrations set finished_at = null, logs = 'ERROR: a failure'`,
    /^undo what 0_baseline did, then npx artstore-db resolve --module admin --rolled-back 0_baseline/,
  ],
  // Unfinished with no error logged, all of it there: deploy marks it applied itself (recoverInterrupted).
  ['failed', `update admin._prisma_migrations set finished_at = null`, /^npx artstore-db deploy --module admin$/],
] as const)('%s: the next command (%s)', async (state, change, next) => {
  await withHistory(change, async () => {
    const [s] = await status({ module: 'admin', env: env() })
    expect(s.state).toBe(state)
    if (next) expect(s.next).toMatch(next)
    else expect(s.next).toBeUndefined()
    if (state === 'modified') {
      const run = await runCli(['status', '--module', 'admin'], env())
      expect(run.stdout).toContain(`   modified after being applied: ${BASELINE_NAME}  → restore `)
    }
  })
})
