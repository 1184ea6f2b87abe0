/**
 * What the tests of an interrupted deploy share: polling for a state, a migration added to a scratch
 * history, a gate a migration waits at, and a deploy killed (SIGKILL) while PostgreSQL shows it running.
 */
import fs from 'node:fs'
import path from 'node:path'
import { expect } from 'vitest'
import { startCli } from './cli.ts'
import { query } from './db.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` until it is true (generous bound: the machine may be loaded); throws naming `what` past the bound. */
export async function until(what: string, check: () => Promise<boolean>, boundMs = 120_000, everyMs = 25): Promise<void> {
  const end = Date.now() + boundMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never: ${what}`)
    await sleep(everyMs)
  }
}

/** Writes `<module>/migrations/<name>/migration.sql` (and `down.sql`, given) into a scratch prisma dir. */
export function addMigration(prismaDir: string, name: string, sql: string, o: { module?: string; down?: string } = {}): string {
  const dir = path.join(prismaDir, o.module ?? 'admin', 'migrations', name)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'migration.sql'), sql)
  if (o.down !== undefined) fs.writeFileSync(path.join(dir, 'down.sql'), o.down)
  return dir
}

/** A gate in the database: `gate.stall()` sleeps while `gate.closed` has a row, so a migration calling it waits there until `openGate`. */
export const installGate = (url: string) =>
  query(
    url,
    `create schema gate; create table gate.closed (x int); insert into gate.closed values (1);
     create function gate.stall() returns boolean language plpgsql volatile as $$
       begin if exists (select 1 from gate.closed) then perform pg_sleep(0.05); end if; return true; end $$;`,
  )
export const openGate = (url: string) => query(url, 'delete from gate.closed')

/** Waits until no other client session is left on the database (a killed command's server sessions go when the server notices). */
export async function untilOthersGone(url: string, o: { terminate?: boolean } = {}): Promise<void> {
  const others = `select ${o.terminate ? 'pg_terminate_backend(pid)' : '1'} from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`
  await until('the killed deploy gone from the server', async () => (await query(url, others)).length === 0)
}

/**
 * Starts `deploy --module admin`, waits until PostgreSQL shows it running `marker` (and, given
 * `whileRunning`, runs it then), kills it (SIGKILL), cuts its connections (the lost connection) and
 * opens the gate.
 */
export async function killDeployWhileRunning(url: string, env: Record<string, string>, marker: string, whileRunning?: () => Promise<void>): Promise<void> {
  const cli = startCli(['deploy', '--module', 'admin'], env)
  const running = `select pid from pg_stat_activity where datname = current_database() and state = 'active' and query like $1 and pid <> pg_backend_pid()`
  try {
    await until(`the deploy running ${marker}`, async () => (await query(url, running, [`%${marker}%`])).length > 0)
    await whileRunning?.()
  } finally {
    cli.child.kill('SIGKILL')
  }
  expect((await cli.done).signal).toBe('SIGKILL')
  await untilOthersGone(url, { terminate: true })
  await openGate(url)
}
