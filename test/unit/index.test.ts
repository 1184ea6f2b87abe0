// The library's entry point: every command is there as a function, and the CLI is built on it alone
// (the lint's no-restricted-imports keeps src/cli/ from reaching past it).
import { expect, test } from 'vitest'
import * as lib from '../../src/index.ts'

test('src/index.ts exports every command as a function', () => {
  const commands = [
    'info',
    'deploy',
    'status',
    'verify',
    'rollback',
    'resolve',
    'cycle',
    'baseline',
    'migrateNew',
    'migrateCheck',
    'migrateAllow',
    'adopt',
    'restore',
    'archive',
    'verifyArchives',
    'rebuildCache',
    'checkCache',
    'studio',
    'rehearse',
  ]
  for (const name of commands) expect(typeof (lib as Record<string, unknown>)[name], name).toBe('function')
})

test('a refusal from the library is a named ArtstoreError whose message names the fix, thrown before any database is touched', async () => {
  const e = await lib.rollback({ module: 'admin', env: { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' } }).catch((err: unknown) => err)
  expect(lib.isArtstoreError(e)).toBe(true)
  expect((e as Error).message).toMatch(/add --yes .* or --dry-run/)
})
