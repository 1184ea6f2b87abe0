// Shared by the three prisma.config.ts files: one module's schema, migrations and database URL.
import { modules, type ModuleName } from '../src/modules.ts'
import { resolveModuleUrl } from '../src/config/urls.ts'

export function configFor(name: ModuleName) {
  const module = modules[name]
  const url = resolveModuleUrl(module, process.env)?.url
  return {
    schema: module.schemaFile,
    migrations: { path: module.migrationsDir },
    ...(url ? { datasource: { url } } : {}),
  }
}
