// `verify` names an extra table of the module (issue 20, item 7): after a rollback whose down.sql
// forgot a table, the checklist listed the leftover's enum but not the table itself, which it took for
// "not the module's table, left alone". A table of the module's schema that no migration makes is now
// a ❌ with its fix; for a storage-element instance, a table with the instance's prefix. Another
// instance's tables beside it (even one whose prefix starts with this one's), an app's table in the
// shared schema and another module's table (the isolation checks' finding) are not.
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, test } from 'vitest'
import { deploy } from '../../src/deploy/deploy.ts'
import { rollback } from '../../src/rollback/rollback.ts'
import { verify } from '../../src/verify/verify.ts'
import { failingChecks } from '../helpers/checks.ts'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile, query } from '../helpers/db.ts'
import { copyPrismaDir } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()
const prismaDir = copyPrismaDir('verify-extra', { at: 'baseline' })
const EXPAND = '29990101000000_admin_users'

/** An expand step whose down.sql drops the column but forgets the table and its enum. */
function writeForgetfulMigration(): string {
  const dir = path.join(prismaDir, 'admin', 'migrations', EXPAND)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'migration.sql'),
    `-- CreateEnum
CREATE TYPE "admin_role" AS ENUM ('admin', 'viewer');

-- CreateTable
CREATE TABLE "admin_users" ("id" SERIAL NOT NULL, "role" "admin_role" NOT NULL, CONSTRAINT "admin_users_pkey" PRIMARY KEY ("id"));

-- AlterTable
ALTER TABLE "audit_logs" ADD COLUMN "admin_user_id" INTEGER;
`,
  )
  fs.writeFileSync(path.join(dir, 'down.sql'), `-- AlterTable\nALTER TABLE "audit_logs" DROP COLUMN "admin_user_id";\n`)
  return dir
}

describe('admin: a leftover of a rolled-back migration', () => {
  let env: Record<string, string>
  beforeAll(async () => {
    const url = await freshDatabase('verify_extra_admin')
    env = { DATABASE_URL: url, ARTSTORE_PRISMA_DIR: prismaDir }
    const dir = writeForgetfulMigration()
    expect((await deploy({ module: 'admin', env }))[0].migrations).toEqual(['0_baseline', EXPAND])
    const back = await rollback({ module: 'admin', steps: 1, yes: true, env })
    expect(back.migrations).toEqual([EXPAND])
    // The change is given up: its folder goes, and the history is 0_baseline again.
    fs.rmSync(dir, { recursive: true })
    // An app's table in the module's schema is the module's business too; another module's table is
    // the isolation checks' finding, never an extra table.
    await query(url, `create table admin.notes (id int primary key); create table admin.search_history (id int)`)
  })

  test('the CLI prints the table and its fix, and exits 1', async () => {
    const run = await runCli(['verify', '--module', 'admin'], env)
    expect(run.exitCode, run.stderr).toBe(1)
    expect(run.stdout).toContain(
      `❌ table admin_users: expected absent (no migration of the history makes it), found present: a leftover (e.g. of a rolled-back migration) is dropped with DROP TABLE "admin"."admin_users"`,
    )
  })

  test('each extra table is a ❌ of its own with its fix (its enum is reported, its key and index are not repeated); dropped, verify is green', async () => {
    const [report] = await verify({ module: 'admin', env })
    expect(report.ok).toBe(false)
    const failing = report.items.filter((i) => !i.ok)
    const tables = failing.filter((i) => i.category === 'table')
    expect(tables.map((i) => i.name).sort()).toEqual(['admin_users', 'notes'])
    expect(tables.find((i) => i.name === 'admin_users')?.actual).toContain('DROP TABLE "admin"."admin_users"')
    expect(tables[0].actual).toContain('npx artstore-db migrate new --module admin --name <name>')
    expect(failing.filter((i) => i.category === 'enum').map((i) => i.name)).toEqual(['admin_role'])
    expect(failing.filter((i) => i.name.startsWith('admin_users_') || i.name.startsWith('notes_'))).toEqual([])
    expect(failing.filter((i) => i.category === 'isolation').map((i) => i.actual)).toEqual(['its tables search_history'])
    expect(report.items.some((i) => i.category === 'table' && i.name === 'search_history')).toBe(false)
    expect(report.items.some((i) => i.category === 'foreign')).toBe(false)
    // Dropped as it says (and the others), verify is green again.
    await query(env.DATABASE_URL, `drop table admin.admin_users; drop type admin.admin_role; drop table admin.notes; drop table admin.search_history`)
    expect(failingChecks((await verify({ module: 'admin', env }))[0])).toEqual([])
  })
})

describe('admin: a table of the baseline that a pending migration drops', () => {
  test('is not taken for a leftover: its ❌ names the migration and deploy, never DROP TABLE', async () => {
    const url = await freshDatabase('verify_extra_pending')
    const dir = copyPrismaDir('verify-extra-pending', { at: 'baseline' })
    const env = { DATABASE_URL: url, ARTSTORE_PRISMA_DIR: dir }
    expect((await deploy({ module: 'admin', env }))[0].status).toBe('applied')
    const drop = '29990101000000_drop_jwt_keys'
    fs.mkdirSync(path.join(dir, 'admin', 'migrations', drop))
    fs.writeFileSync(path.join(dir, 'admin', 'migrations', drop, 'migration.sql'), '-- DropTable\nDROP TABLE "jwt_keys";\n')
    const [report] = await verify({ module: 'admin', env })
    const item = report.items.find((i) => i.category === 'table' && i.name === 'jwt_keys')
    expect(item).toEqual({
      category: 'table',
      name: 'jwt_keys',
      ok: false,
      expected: `absent (${drop} drops it)`,
      actual: `present: ${drop} is not applied here: run npx artstore-db deploy --module admin`,
    })
  })
})

describe('storage-element instances side by side in public', () => {
  const PREFIXES = ['storage_elem_01', 'storage_elem_01_b', 'storage_elem_02']
  let env: Record<string, string>
  const verifyOf = async (prefix: string) => (await verify({ module: 'storage-element', prefix, env }))[0]
  beforeAll(async () => {
    const url = await freshDatabase('verify_extra_instances')
    env = { STORAGE_ELEMENT_DATABASE_URL: url, STORAGE_ELEMENT_LAYOUT: 'shared', ARTSTORE_PRISMA_DIR: prismaDir }
    for (const prefix of PREFIXES) expect((await deploy({ module: 'storage-element', prefix, env }))[0].status).toBe('applied')
    await query(url, `create table public.storage_elem_01_leftover (id int primary key); create table public.app_notes (id int)`)
  })

  test("an extra table with the instance's prefix is a ❌ of that instance only", async () => {
    const one = await verifyOf('storage_elem_01')
    // Prisma's drift check sees the table too (it is not declared foreign to it).
    expect(failingChecks(one)).toEqual([
      'table storage_elem_01_leftover: present: a leftover (e.g. of a rolled-back migration) is dropped with DROP TABLE "public"."storage_elem_01_leftover"; a table to keep goes into the module\'s schema.prisma, then npx artstore-db migrate new --module storage-element --name <name>',
      'drift Prisma sees no drift between the database and schema.prisma: [-] Removed tables',
    ])
    // storage_elem_01_b's tables start with storage_elem_01_ but are that instance's.
    const foreign = one.items.filter((i) => i.category === 'foreign').map((i) => i.name.split(':')[0])
    expect(foreign).toEqual(expect.arrayContaining(['app_notes', 'storage_elem_01_b_files', 'storage_elem_02_files']))
    for (const prefix of ['storage_elem_01_b', 'storage_elem_02']) {
      const other = await verifyOf(prefix)
      expect(failingChecks(other)).toEqual([])
      expect(other.items.filter((i) => i.category === 'foreign').map((i) => i.name.split(':')[0])).toContain('storage_elem_01_leftover')
    }
  })
})
