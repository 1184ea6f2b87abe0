// Prisma config of the query module. Run Prisma through `npx artstore-db` (or src/prisma/run.ts), which
// resolves the database URL (embedded default, DATABASE_URL or QUERY_DATABASE_URL) and the offline engine.
import { defineConfig } from 'prisma/config'
import { configFor } from '../config.ts'

export default defineConfig(configFor('query'))
