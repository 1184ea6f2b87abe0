// Shared by the three prisma.config.ts files: one module's schema, migrations and database URL.
import { modules, type ModuleName } from '../src/modules.ts'
import { resolveModuleUrl } from '../src/config/urls.ts'
import { storageElementInstance } from '../src/prefix/prefix.ts'

/** One module's schema, migrations and URL; STORAGE_ELEMENT_PREFIX selects a storage-element instance. */
export function configFor(name: ModuleName) {
  const prefix = process.env.STORAGE_ELEMENT_PREFIX
  const module = name === 'storage-element' && prefix ? storageElementInstance(prefix) : modules[name]
  const url = resolveModuleUrl(module, process.env)?.url
  // Tables that are not the module's (another instance's, an app's leftovers), for drift checks to ignore.
  const external = (process.env.ARTSTORE_EXTERNAL_TABLES ?? '').split(',').filter(Boolean)
  return {
    schema: module.schemaFile,
    migrations: { path: module.migrationsDir },
    ...(url ? { datasource: { url } } : {}),
    ...(external.length ? { experimental: { externalTables: true }, tables: { external } } : {}),
  }
}
