import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { EXIT_MEANINGS } from '../../src/cli/exit-codes.ts'
import { main } from '../../src/cli/main.ts'
import { projectRoot } from '../../src/modules.ts'

/** Runs the CLI in-process; what it printed and its exit code. */
async function cli(args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const code = await main(args, { out: (t) => void out.push(t), err: (t) => void err.push(t) })
  return { code, out: out.join(''), err: err.join('\n') }
}

test('the exit codes of --help are the README table, case for case', async () => {
  const readme = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8')
  const table = readme.slice(readme.indexOf('### Exit codes'), readme.indexOf('### Recovering'))
  const rows = [...table.matchAll(/^\| (\d[\d, ]*) \| (.*) \|$/gm)].map((m) => [m[1], m[2]])
  expect(rows).toEqual(EXIT_MEANINGS.map((e) => [...e]))
  const help = (await cli(['--help'])).out.replace(/\s+/g, ' ')
  for (const [codes, meaning] of EXIT_MEANINGS) expect(help).toContain(`${codes} ${meaning.replaceAll('`', '')}`)
})

test('--version prints the version of package.json, exit 0', async () => {
  const r = await cli(['--version'])
  expect(r.code).toBe(0)
  expect(r.out.trim()).toBe(JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')).version)
})

test('an option given twice is refused (commander would keep the last): exit 2, one line naming it', async () => {
  const r = await cli(['status', '--module', 'admin', '--module', 'query'])
  expect(r.code).toBe(2)
  expect(r.err).toBe('error: option --module is given twice: give it once (run the command once per value) (see npx artstore-db --help)')
  expect((await cli(['status', '--prefix=a', '--json', '--prefix', 'b'])).err).toMatch(/^error: option --prefix is given twice/)
})

test('cache takes --root more than once (a folder and a bucket); archive still refuses it twice', async () => {
  expect((await cli(['archive', 'verify', '--root', 'a', '--root', 'b'])).err).toMatch(/^error: option --root is given twice/)
  expect((await cli(['cache', 'rebuild', '--root', 'a', '--root', 'b'])).err).toMatch(/^error: required option '--module <module>' not specified/)
})

test('restore --help marks --from required', async () => {
  expect((await cli(['restore', '--help'])).out).toMatch(/--from <dir>\s+required:/)
})

test('an error nobody foresaw is exit 70 with a line asking to report it, not the code of a failed check', async () => {
  const errors: string[] = []
  const code = await main(['--help'], {
    out: () => {
      throw new TypeError('the output went away')
    },
    err: (t) => void errors.push(t),
  })
  expect(code).toBe(70)
  expect(errors).toEqual([
    'error: the output went away',
    'this is a bug in artstore-db: please report it, with the command and what it prints with ARTSTORE_DEBUG=1',
  ])
})

test('bad input stays exit 2, --help exit 0', async () => {
  const quiet = { out: () => undefined, err: () => undefined }
  expect(await main(['deploy', '--no-such-option'], quiet)).toBe(2)
  expect(await main(['--help'], quiet)).toBe(0)
})

test('every named error belongs to one of four families, and its exit code follows from the family', async () => {
  const { UnknownModuleError, QueryTimeoutError, EnvironmentError, FailureError, RefusalError, UsageError, DatabaseMissingError } =
    await import('../../src/errors.ts')
  const { BaselineFrozenError } = await import('../../src/baseline/errors.ts')
  const cases = [
    [new UnknownModuleError('x', ['admin']), UsageError, 'usage', 2],
    [new DatabaseMissingError('d', 'h:5432', 'DATABASE_URL'), EnvironmentError, 'environment', 2],
    [new BaselineFrozenError('admin', ['1_x']), RefusalError, 'refused', 2],
    [new QueryTimeoutError(), FailureError, 'failed', 1],
  ] as const
  for (const [e, family, kind, code] of cases) {
    expect(e).toBeInstanceOf(family)
    expect([e.kind, e.exitCode], e.name).toEqual([kind, code])
  }
})
