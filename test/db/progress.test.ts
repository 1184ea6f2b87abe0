// Progress of long commands: each module's start and end reach onProgress (the CLI shows them on a
// terminal, never with --json).
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { ModuleProgress } from '../../src/context.ts'
import { deploy } from '../../src/deploy/deploy.ts'
import { verify } from '../../src/verify/verify.ts'
import { moduleProgress } from '../../src/cli/output.ts'
import { dropDatabase, freshDatabase } from '../helpers/db.ts'

let url: string
beforeAll(async () => {
  url = await freshDatabase('progress')
})
afterAll(() => dropDatabase('progress'))

test("deploy and verify tell each module's start and end, in that order, with how long it took", async () => {
  for (const command of [deploy, verify]) {
    const events: ModuleProgress[] = []
    await command({ env: { DATABASE_URL: url }, onProgress: (e) => void events.push(e) })
    for (const module of ['admin', 'storage-element', 'query']) {
      const mine = events.filter((e) => e.module === module)
      expect(
        mine.map((e) => e.phase),
        `${command.name} ${module}`,
      ).toEqual(['start', 'done'])
      expect(mine[1].ms).toBeGreaterThanOrEqual(0)
    }
  }
})

test('the CLI shows progress only on a terminal and never with --json', () => {
  const lines: string[] = []
  const o = { out: () => undefined, err: (t: string) => void lines.push(t) }
  expect(moduleProgress(o, true, 'deploy', true)).toBeUndefined()
  expect(moduleProgress(o, false, 'deploy', false)).toBeUndefined()
  const show = moduleProgress(o, false, 'deploy', true)!
  show({ module: 'admin', phase: 'start' })
  show({ module: 'storage-element', prefix: 'se_02', phase: 'done', ms: 3210 })
  show({ module: 'query', phase: 'failed', ms: 50 })
  expect(lines).toEqual(['… deploy admin', '✔ deploy storage-element (se_02): 3.2 s', '✖ deploy query: 0.1 s'])
})
