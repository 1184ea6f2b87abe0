import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    globalSetup: ['./test/helpers/global-setup.ts'],
    // Each database test file works in a database of its own; Prisma CLI runs take seconds each.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'db', include: ['test/db/**/*.test.ts'] } },
    ],
  },
})
