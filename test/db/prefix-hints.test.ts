// Issue 19, item 9: for a storage-element instance other than the default, every next command that
// verify and status print carries its --prefix (without it the command would act on the default
// instance). The tests build on each other, in one database of their own.
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { dropDatabase, freshDatabase, query } from '../helpers/db.ts'

const PREFIX = 'storage_elem_02'
let url: string
const env = () => ({ STORAGE_ELEMENT_DATABASE_URL: url })
const instance = ['--module', 'storage-element', '--prefix', PREFIX]

/** The next commands of a text that name the storage element, and those of them without the instance's --prefix. */
function hints(text: string) {
  const all = text.match(/npx artstore-db [a-z]+(?: [a-z]+)? --module storage-element[^\n)]*/g) ?? []
  return { all, withoutPrefix: all.filter((h) => !h.includes(`--prefix ${PREFIX}`)) }
}

beforeAll(async () => {
  url = await freshDatabase('prefix_hints')
})
afterAll(async () => {
  await dropDatabase('prefix_hints')
})

describe('issue 19 item 9: hints for a prefixed instance name its --prefix', () => {
  test('nothing deployed: verify says to deploy the instance, with --prefix', async () => {
    const v = await runCli(['verify', ...instance], env())
    expect(v.exitCode, v.stdout + v.stderr).toBe(1)
    expect(v.stdout).toContain(`none: run npx artstore-db deploy --module storage-element --prefix ${PREFIX}`)
    expect(hints(v.stdout).all.length).toBeGreaterThan(0)
    expect(hints(v.stdout).withoutPrefix).toEqual([])
  })

  test('nothing deployed: status says to deploy the instance, with --prefix', async () => {
    const s = await runCli(['status', ...instance], env())
    expect(s.exitCode, s.stdout + s.stderr).toBe(1)
    expect(s.stdout).toContain(`→ npx artstore-db deploy --module storage-element --prefix ${PREFIX}`)
    expect(hints(s.stdout).withoutPrefix).toEqual([])
  })

  test("tables there but the history row gone: verify's history line says to deploy the instance, with --prefix", async () => {
    const d = await runCli(['deploy', ...instance], env())
    expect(d.exitCode, d.stdout + d.stderr).toBe(0)
    await query(url, `delete from public._prisma_migrations`)
    const v = await runCli(['verify', ...instance], env())
    expect(v.exitCode, v.stdout + v.stderr).toBe(1)
    expect(v.stdout).toMatch(new RegExp(`history 0_baseline is applied .*not applied: run npx artstore-db deploy --module storage-element --prefix ${PREFIX}`))
    expect(hints(v.stdout).withoutPrefix).toEqual([])
  })
})
