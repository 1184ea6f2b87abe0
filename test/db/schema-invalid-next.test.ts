// A schema edit Prisma rejects, met by `migrate new` or `migrate check`: the one-line error names the
// command that met it as the one to run again once the schema is fixed, not `baseline` (frozen once
// later migrations exist). The slip is the newcomer's of README "Expand → backfill → contract": the
// field userId removed, its @@index left.
import path from 'node:path'
import { beforeAll, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { freshDatabasesOfThisFile } from '../helpers/db.ts'
import { copyPrismaDir, edit } from '../helpers/prisma-copy.ts'

const freshDatabase = freshDatabasesOfThisFile()
const prismaDir = copyPrismaDir('schema-invalid-next', { at: 'baseline' })
let env: Record<string, string>
beforeAll(async () => {
  env = { DATABASE_URL: await freshDatabase('schema_invalid_next'), ARTSTORE_PRISMA_DIR: prismaDir }
  const schema = path.join(prismaDir, 'admin', 'schema.prisma')
  edit(schema, / {2}\/\/\/ NULL for system events\.\n {2}userId +Int\? +@map\("user_id"\)\n/, '')
  edit(schema, / {2}user +User\? +@relation\(fields: \[userId\][^\n]*\n/, '')
})

const complaint = /^error: \S*prisma\/admin\/schema\.prisma is not a valid Prisma schema: .*unknown fields: userId.*: fix it, then run /

test('migrate new names itself as the command to run again (exit 2, one line)', async () => {
  const run = await runCli(['migrate', 'new', '--module', 'admin', '--name', 'drop_users'], env)
  expect(run.exitCode).toBe(2)
  expect(run.stderr.trim()).toMatch(complaint)
  expect(run.stderr.trim()).toMatch(/then run npx artstore-db migrate new --module admin --name drop_users$/)
})

test('migrate check names itself (exit 2, one line)', async () => {
  const run = await runCli(['migrate', 'check', '--module', 'admin'], env)
  expect(run.exitCode).toBe(2)
  expect(run.stderr.trim()).toMatch(complaint)
  expect(run.stderr.trim()).toMatch(/then run npx artstore-db migrate check --module admin$/)
})
