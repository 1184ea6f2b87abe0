// restore under attack (issue "no data loss under faults and hostile input"): an empty table in the
// backup, a planted or edited manifest, a file outside the backup, another target database, too many
// backups, a backup.json that is not JSON. Each refusal is one line, exit 2, with nothing changed.
import { createHash, createHmac } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { backupRoot, pruneBackups } from '../../src/adopt/backup.ts'
import { projectRoot } from '../../src/modules.ts'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'
import { loadLegacyFixture } from '../helpers/legacy.ts'
import { scratchRoot } from '../helpers/workdir.ts'

let url: string
let other: string
let backup: string
const env = () => ({ ADMIN_DATABASE_URL: url })
const rowsOf = (u: string, table: string) => query(u, `select * from ${table} order by 1`)

/** A copy of the backup, to attack without spoiling the original. */
function copyBackup(name: string): string {
  const dir = path.join(scratchRoot, 'restore-attacks', name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  fs.cpSync(backup, dir, { recursive: true })
  return dir
}

/** Rewrites backup.json and signs it with the project's key, as the key's owner could: the checks that remain must still hold. */
function forge(dir: string, edit: (m: Record<string, unknown> & { tables: Record<string, unknown>[] }) => void): void {
  const file = path.join(dir, 'backup.json')
  const { hmac: _old, ...m } = JSON.parse(fs.readFileSync(file, 'utf8'))
  edit(m)
  const key = Buffer.from(fs.readFileSync(path.join(projectRoot, '.artstore', 'backup.key'), 'utf8').trim(), 'hex')
  fs.writeFileSync(file, JSON.stringify({ ...m, hmac: createHmac('sha256', key).update(JSON.stringify(m)).digest('hex') }))
}

beforeAll(async () => {
  url = await freshDatabase('restore')
  other = await freshDatabase('restore_other')
  for (const u of [url, other]) await loadLegacyFixture(u, 'gen2-d00e065', 'admin')
  // The attack on an empty table: jwt_keys holds nothing when the backup is taken.
  await query(url, 'delete from jwt_keys')
  const run = await runCli(['adopt', '--module', 'admin', '--yes', '--json'], env())
  expect(run.exitCode, run.stderr).toBe(0)
  backup = JSON.parse(run.stdout)[0].backup
})
afterAll(async () => {
  await dropDatabase('restore')
  await dropDatabase('restore_other')
})

describe('restore', () => {
  test('a backup with an empty table restores (attack: on conflict () on an empty jwt_keys)', async () => {
    const accounts = await rowsOf(url, 'service_accounts')
    await query(url, 'delete from audit_logs where service_account_id is not null')
    await query(url, 'delete from service_accounts')
    const run = await runCli(['restore', '--from', backup, '--yes', '--json'], env())
    expect(run.exitCode, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout).tables).toEqual(expect.arrayContaining([{ table: 'jwt_keys', rows: 0 }]))
    expect(await rowsOf(url, 'service_accounts')).toEqual(accounts)
  })

  test('an edited users.json with its sha256 updated is refused: the manifest is signed (attack: planted password hash)', async () => {
    const dir = copyBackup('rehashed')
    const usersFile = path.join(dir, 'users.json')
    const users = JSON.parse(fs.readFileSync(usersFile, 'utf8'))
    users[0].hashed_password = '$2b$12$planted'
    const text = `${JSON.stringify(users, null, 1)}\n`
    fs.writeFileSync(usersFile, text)
    const file = path.join(dir, 'backup.json')
    const m = JSON.parse(fs.readFileSync(file, 'utf8'))
    m.tables.find((t: { table: string }) => t.table === 'users').sha256 = createHash('sha256').update(text).digest('hex')
    fs.writeFileSync(file, JSON.stringify(m))
    const before = await rowsOf(url, 'users')
    const run = await runCli(['restore', '--from', dir, '--yes'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toBe(
      `error: ${dir} is not a usable backup (backup.json is not signed by this project: it was changed, or made elsewhere): give the folder adopt printed, under .artstore/backups/`,
    )
    expect(await rowsOf(url, 'users')).toEqual(before)
  })

  test('a _prisma_migrations entry is refused even when signed (attack: a forged history row)', async () => {
    const dir = copyBackup('history-row')
    fs.writeFileSync(path.join(dir, 'h.json'), '[]\n')
    forge(dir, (m) => m.tables.push({ table: '_prisma_migrations', file: 'h.json', rows: 0, sha256: createHash('sha256').update('[]\n').digest('hex') }))
    const run = await runCli(['restore', '--from', dir, '--yes'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/table _prisma_migrations is not one of the admin module's backed-up tables/)
    expect(await query(url, 'select migration_name from _prisma_migrations')).toEqual([{ migration_name: '0_baseline' }])
  })

  test('a file outside the backup folder is never read, even when signed (attack: ../../etc/hostname)', async () => {
    const dir = copyBackup('outside')
    forge(dir, (m) => {
      m.tables[0].file = '../../../../../../../../etc/hostname'
    })
    const run = await runCli(['restore', '--from', dir, '--yes'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/'s file is not a file of the backup folder/)
    expect(run.stdout + run.stderr).not.toContain(fs.readFileSync('/etc/hostname', 'utf8').trim())
  })

  test('another target database is refused without --other-target (attack: a backup offered to the wrong database)', async () => {
    const before = await rowsOf(other, 'service_accounts')
    const run = await runCli(['restore', '--from', backup, '--dry-run'], { ADMIN_DATABASE_URL: other })
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim()).toMatch(
      /^error: the backup was taken from .+\/artstore_t_restore schema public, not .+\/artstore_t_restore_other schema public: point the module's URL at that database, or add --other-target to restore it here on purpose$/,
    )
    const allowed = await runCli(['restore', '--from', backup, '--dry-run', '--other-target'], { ADMIN_DATABASE_URL: other })
    expect(allowed.exitCode, allowed.stderr).toBe(0)
    expect(await rowsOf(other, 'service_accounts')).toEqual(before)
  })

  test('a backup.json that is not JSON: one line, exit 2', async () => {
    const dir = copyBackup('not-json')
    fs.writeFileSync(path.join(dir, 'backup.json'), 'not json at all')
    const run = await runCli(['restore', '--from', dir, '--yes'], env())
    expect(run.exitCode).toBe(2)
    expect(run.stderr.trim().split('\n')).toEqual([
      `error: ${dir} is not a usable backup (backup.json is not JSON): give the folder adopt printed, under .artstore/backups/`,
    ])
  })
})

describe('backups do not pile up', () => {
  test('each module keeps its newest N (ARTSTORE_BACKUPS_KEEP, default 10); others are removed', () => {
    const root = backupRoot()
    const made = ['2000-01-01', '2000-01-02', '2000-01-03'].map((d) => path.join(root, `prune-test-${d}`))
    for (const d of made) fs.mkdirSync(d, { recursive: true })
    expect(pruneBackups('prune-test', 1)).toEqual(made.slice(0, 2))
    expect(made.map((d) => fs.existsSync(d))).toEqual([false, false, true])
    fs.rmSync(made[2], { recursive: true })
  })
})
