import { pgConfigFromUrl, withClientOf } from '../db/pg-config.ts'
import { ensureModuleSchemas } from '../history/table.ts'
import { prefixOfHistorySchema } from '../prefix/layout.ts'

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

/**
 * `reset` (`prisma migrate reset`, `migrate dev` resetting after drift, `db push --force-reset`) refused
 * for a storage-element instance in the shared layout. The engine resets the schema it keeps its history
 * in: the instance's history would go while its tables, beside the other instances', stay, and the
 * migrations it then replays fail on them, leaving a failed 0_baseline in place of the history.
 * Resetting the tables' schema instead would drop every other instance's tables and the services' own.
 * Nothing has been changed when this is thrown.
 */
export class SharedLayoutResetError extends Error {
  constructor(tables: string, history: string, prefix: string | undefined) {
    const target = `--module storage-element --prefix ${prefix ?? '<prefix>'}`
    super(
      `reset refused for storage-element instance ${prefix ?? `with history schema "${history}"`}: it shares schema "${tables}" with the other instances' tables and the services', which a reset must not drop, and its history is in "${history}"; nothing was changed. To empty this instance alone: STORAGE_ELEMENT_LAYOUT=shared npx artstore-db rollback ${target} --all --yes, then npx artstore-db deploy ${target}`,
    )
    this.name = 'SharedLayoutResetError'
  }
}

/** The refusal of a reset for a URL with a history schema (the shared layout); undefined for any other. */
export function sharedLayoutResetRefusal(url: string | undefined): SharedLayoutResetError | undefined {
  if (!url) return undefined
  const { schema, history } = pgConfigFromUrl(url)
  if (!history) return undefined
  return new SharedLayoutResetError(schema ?? 'public', history, prefixOfHistorySchema(history))
}
