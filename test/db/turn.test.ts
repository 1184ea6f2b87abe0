// The deploy turn (issue 19 item 8): a deploy or rollback waits for it at most ARTSTORE_TURN_TIMEOUT
// (30 s unless set), is told who holds it (the CLI shows the holder's pid and application on a
// terminal, never with --json), and gives up naming the holder, having changed nothing.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { deploy } from '../../src/deploy/deploy.ts'
import { DEPLOY_TURN_CLASS, DeployTurnTimeoutError, withDeployTurn, type TurnWait } from '../../src/db/lock.ts'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

let url: string
let holder: pg.Client
let holderPid: number
const env = () => ({ QUERY_DATABASE_URL: url })
const applied = async () => (await query<{ n: number }>(url, `select count(*)::int as n from _prisma_migrations where rolled_back_at is null`))[0].n

beforeAll(async () => {
  url = await freshDatabase('turn')
  const [r] = await deploy({ module: 'query', env: env() })
  expect(r.status, r.detail).toBe('applied')
  // Another deploy in the middle of its work: it holds the database's deploy turn.
  holder = new pg.Client({ connectionString: url, application_name: 'the other deploy' })
  await holder.connect()
  holderPid = (await holder.query('select pg_backend_pid() as p')).rows[0].p
  await holder.query('select pg_advisory_lock($1, 0)', [DEPLOY_TURN_CLASS])
})
afterAll(async () => {
  await holder?.end()
  await dropDatabase('turn')
})

describe('waiting for the deploy turn', () => {
  test('the library tells onWait who holds the turn, then gives up after the bound naming the holder (exit 2), without running the work', async () => {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    const waits: TurnWait[] = []
    let ran = false
    try {
      const e = await withDeployTurn(
        c,
        async () => {
          ran = true
        },
        { waitSeconds: 1, onWait: (w) => void waits.push(w) },
      ).catch((err: unknown) => err)
      expect(e).toBeInstanceOf(DeployTurnTimeoutError)
      expect((e as DeployTurnTimeoutError).exitCode).toBe(2)
      expect((e as Error).message).toMatch(
        new RegExp(
          `^another deploy or rollback has held this database's deploy turn for over 1 s \\(backend pid ${holderPid} \\(the other deploy\\)( from [^)]+)?\\): try again when it has finished, or wait longer with ARTSTORE_TURN_TIMEOUT \\(e\\.g\\. 5m\\) \\(npx artstore-db status shows what is applied\\)$`,
        ),
      )
    } finally {
      await c.end()
    }
    expect(ran).toBe(false)
    expect(waits).toHaveLength(1)
    expect(waits[0]).toMatchObject({ holder: { pid: holderPid, application: 'the other deploy' }, waitSeconds: 1 })
  })

  test('attack: rollback and deploy waited 900 s in silence; with ARTSTORE_TURN_TIMEOUT=1s each gives up (exit 2) in one line naming the holder, nothing changed', async () => {
    const before = await applied()
    const back = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], { ...env(), ARTSTORE_TURN_TIMEOUT: '1s' })
    expect(back.exitCode, back.stdout + back.stderr).toBe(2)
    expect(back.stderr.trim().split('\n')).toHaveLength(1)
    expect(back.stderr).toMatch(new RegExp(`for over 1 s \\(backend pid ${holderPid} \\(the other deploy\\)( from [^)]+)?\\)`))
    expect(await applied()).toBe(before)
    // A deploy with something pending waits for the turn too.
    const fresh = await freshDatabase('turn_deploy')
    try {
      const other = new pg.Client({ connectionString: fresh, application_name: 'the other deploy' })
      await other.connect()
      try {
        const pid = (await other.query('select pg_backend_pid() as p')).rows[0].p
        await other.query('select pg_advisory_lock($1, 0)', [DEPLOY_TURN_CLASS])
        const run = await runCli(['deploy', '--module', 'admin'], { ADMIN_DATABASE_URL: fresh, ARTSTORE_TURN_TIMEOUT: '1s' })
        expect(run.exitCode, run.stdout + run.stderr).toBe(2)
        expect(run.stderr).toMatch(new RegExp(`for over 1 s \\(backend pid ${pid} \\(the other deploy\\)( from [^)]+)?\\)`))
      } finally {
        await other.end()
      }
    } finally {
      await dropDatabase('turn_deploy')
    }
  })

  test('a bound that is not a duration is refused (exit 2) before anything changes', async () => {
    const before = await applied()
    const run = await runCli(['rollback', '--module', 'query', '--steps', '1', '--yes'], { ...env(), ARTSTORE_TURN_TIMEOUT: 'soon' })
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      'error: ARTSTORE_TURN_TIMEOUT "soon" is not a duration: give seconds or a number with s, m or h (e.g. ARTSTORE_TURN_TIMEOUT=30s, 2m; 0 to not wait)',
    )
    expect(await applied()).toBe(before)
  })

  test('on a terminal the CLI shows what it waits for (pid and application) on stderr; with --json it does not', () => {
    const cli = path.join(projectRoot, 'scripts', 'artstore-db.mjs')
    // `script` gives the command a terminal; its output is what the terminal shows.
    const onTerminal = (args: string) =>
      spawnSync('script', ['-qefc', `${process.execPath} ${cli} ${args}`, '/dev/null'], {
        env: { ...process.env, ...env(), DATABASE_URL: '', ARTSTORE_DOTENV: '0', ARTSTORE_TURN_TIMEOUT: '2s' },
        encoding: 'utf8',
        // Far above the 2 s bound: a command that does not give up fails the test rather than hang it.
        timeout: 60_000,
      })
    const shown = onTerminal('rollback --module query --steps 1 --yes')
    expect(shown.stdout).toMatch(
      new RegExp(
        `… waiting for this database's deploy turn, held by backend pid ${holderPid} \\(the other deploy\\)( from \\S+)?: up to 2 s \\(ARTSTORE_TURN_TIMEOUT\\)`,
      ),
    )
    const json = onTerminal('rollback --module query --steps 1 --yes --json')
    expect(json.stdout).toContain('deploy turn for over 2 s')
    expect(json.stdout).not.toContain('waiting for')
  })
})
