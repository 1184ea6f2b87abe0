// The history states on real PostgreSQL (src/history/): what `status` reports, and its exit code, for a
// database whose _prisma_migrations is up to date, pending, failed, modified or diverged. Each test sets
// its state up and puts the history back.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { deploy } from '../../src/deploy/deploy.ts'
import { status } from '../../src/status/status.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let url: string
const env = () => ({ ADMIN_DATABASE_URL: url })
const state = async () => (await status({ module: 'admin', env: env() }))[0]

beforeAll(async () => {
  url = await freshDatabase('history_states')
  expect((await deploy({ module: 'admin', env: env() }))[0].status).toBe('applied')
})
afterAll(() => dropDatabase('history_states'))

/** Runs `fn` with the history changed by `change`, then restores the history as it was. */
async function withHistory(change: string, fn: () => Promise<void>): Promise<void> {
  const saved = await query(url, 'select * from _prisma_migrations')
  await query(url, change)
  try {
    await fn()
  } finally {
    await query(url, 'delete from _prisma_migrations')
    for (const r of saved) {
      const cols = Object.keys(r)
      await query(url, `insert into _prisma_migrations (${cols.join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(r))
    }
  }
}

const failedRow = `insert into _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count)
  values (gen_random_uuid()::text, 'x', '99991231000000_half_done', now(), 0)`
const unknownRow = `insert into _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
  values (gen_random_uuid()::text, 'x', '99991231000000_from_elsewhere', now(), now(), 1)`

test.each([
  ['up-to-date', 'select 1', 0, {}],
  ['modified', `update _prisma_migrations set checksum = 'edited' where migration_name = '0_baseline'`, 1, { modified: ['0_baseline'] }],
  ['diverged', unknownRow, 1, { unknown: ['99991231000000_from_elsewhere'] }],
  ['failed', failedRow, 1, { failed: ['99991231000000_half_done'] }],
  ['pending', `delete from _prisma_migrations where migration_name = '0_baseline'`, 1, { pending: ['0_baseline'] }],
] as const)('%s: status says so, and exits %s', async (expected, change, exitCode, detail) => {
  await withHistory(change, async () => {
    expect(await state()).toMatchObject({ state: expected, ...detail })
    const run = await runCli(['status', '--module', 'admin', '--json'], env())
    expect(run.exitCode, run.stderr).toBe(exitCode)
    expect(JSON.parse(run.stdout)[0].state).toBe(expected)
  })
})

test('a failed row outranks a modified one: the most serious finding is the state', async () => {
  await withHistory(`update _prisma_migrations set checksum = 'edited'`, async () => {
    await query(url, failedRow)
    expect((await state()).state).toBe('failed')
  })
})
