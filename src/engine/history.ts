import { pgConfigFromUrl, withClientOf } from '../db/pg-config.ts'
import { ensureModuleSchemas } from '../history/table.ts'

/**
 * The shared layout through the bridge: before the engine would create the history table (applyMigrations,
 * markMigrationApplied), the tables' schema and the instance's `_prisma_migrations` in its history
 * schema (the URL's `artstore_history`), made as `artstore-db deploy` makes them. Unmade, the engine
 * creates it in the tables' schema, where the next instance finds it as its own. A URL without a
 * history schema is left to the engine, as before.
 */
export async function ensureBridgeHistory(url: string | undefined): Promise<void> {
  if (!url) return
  const { config, schema, history } = pgConfigFromUrl(url)
  if (!history) return
  await withClientOf(config, (c) => ensureModuleSchemas(c, schema ?? 'public', history))
}
