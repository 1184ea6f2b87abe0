import { defineConfig } from 'vitest/config'

// ARTSTORE_TEST_SCOPE=server runs only what depends on the database server: the db tests less the
// embedded server's own (it starts a server of its own), the Prisma CLI's and the bridge's (the
// protocol does not change with the server, and the in-process engine, the same engine over the
// same adapter, is tested on every server) and Studio's. CI uses it for its second server, where it
// also runs the real `prisma migrate deploy` of every module and checks the result; `npm test` runs
// everything.
const serverOnly = process.env.ARTSTORE_TEST_SCOPE === 'server'

export default defineConfig({
  test: {
    globalSetup: ['./test/helpers/global-setup.ts'],
    // Each database test file works in a database of its own.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      ...(serverOnly ? [] : [{ extends: true as const, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } }]),
      {
        extends: true,
        test: {
          name: 'db',
          include: ['test/db/**/*.test.ts'],
          exclude: serverOnly ? ['test/db/embedded.test.ts', 'test/db/bridge.test.ts', 'test/db/engine.test.ts', 'test/db/deploy-engine.test.ts', 'test/db/studio.test.ts'] : [],
        },
      },
    ],
  },
})
