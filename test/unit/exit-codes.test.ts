import { expect, test } from 'vitest'
import { main } from '../../src/cli/main.ts'

test('an error nobody foresaw is exit 70 with a line asking to report it, not the code of a failed check', async () => {
  const errors: string[] = []
  const code = await main(['--help'], {
    out: () => {
      throw new TypeError('the output went away')
    },
    err: (t) => void errors.push(t),
  })
  expect(code).toBe(70)
  expect(errors).toEqual(['error: the output went away', 'this is a bug in artstore-db: please report it, with the command and what it prints with ARTSTORE_DEBUG=1'])
})

test('bad input stays exit 2, --help exit 0', async () => {
  const quiet = { out: () => undefined, err: () => undefined }
  expect(await main(['deploy', '--no-such-option'], quiet)).toBe(2)
  expect(await main(['--help'], quiet)).toBe(0)
})
