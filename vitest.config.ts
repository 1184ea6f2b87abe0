import { defineConfig } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

// `npm test` runs everything. Two variables narrow a run (CI runs the suite on two servers side by
// side and uses them to run each test once where one server suffices):
// - ARTSTORE_TEST_SCOPE=server: only what depends on the database server, and the bridge suite. Left
//   out: the unit tests, the embedded server's own tests (they start a server of their own), the
//   in-process engine's equivalence with `prisma migrate deploy`, the bridge's one-shot commands,
//   Studio and the packed package's import, none of which changes with the server.
// - ARTSTORE_TEST_EXCLUDE=a,b: test files to leave out (paths from the project root).
const serverOnly = process.env.ARTSTORE_TEST_SCOPE === 'server'
const serverIndependent = [
  'test/db/embedded.test.ts',
  'test/db/engine.test.ts',
  'test/db/deploy-engine.test.ts',
  'test/db/studio.test.ts',
  'test/db/package.test.ts',
]
const excluded = (process.env.ARTSTORE_TEST_EXCLUDE ?? '').split(',').filter(Boolean)

// The files that take longest, started first, so that no run ends with one of them running alone.
const slowFirst = ['test/db/bridge.test.ts', 'test/db/adopt.test.ts', 'test/db/deploy-engine.test.ts', 'test/db/schemas.test.ts', 'test/db/cache.test.ts']
class SlowFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = slowFirst.findIndex((name) => f.moduleId.endsWith(name))
      return i < 0 ? slowFirst.length : i
    }
    const byDefault = await super.sort(files)
    return byDefault
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f)
  }
}

export default defineConfig({
  test: {
    globalSetup: ['./test/helpers/global-setup.ts'],
    // Each database test file works in a database of its own.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
    sequence: { sequencer: SlowFirst },
    projects: [
      ...(serverOnly ? [] : [{ extends: true as const, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: excluded } }]),
      {
        extends: true,
        test: { name: 'db', include: ['test/db/**/*.test.ts'], exclude: [...(serverOnly ? serverIndependent : []), ...excluded] },
      },
    ],
  },
})
