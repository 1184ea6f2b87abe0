// Shared by the three prisma.config.ts files: one module's schema, migrations and database URL.
import { defaultPrismaDir, type ModuleName } from '../src/modules.ts'
import { resolveModuleUrl, splitPassword } from '../src/config/urls.ts'
import { modulesFor } from '../src/prefix/layout.ts'

/**
 * The Prisma CLI hands the datasource URL to the schema engine on its command line, where every local
 * user can read it (/proc/<pid>/cmdline). When the engine is the offline bridge, the password travels
 * in PGPASSWORD instead (the environment is readable by the same user only), which pg reads for any
 * URL without a password: the userinfo's or a `?password=` (which pg, like libpq, takes over the
 * userinfo's). Studio connects by itself and keeps the URL whole.
 */
function withoutPassword(url: string | undefined): string | undefined {
  if (!url || !process.env.PRISMA_SCHEMA_ENGINE_BINARY?.endsWith('schema-engine.mjs') || process.argv.includes('studio')) return url
  const split = splitPassword(url)
  if (split.password) process.env.PGPASSWORD = split.password
  return split.url
}

/**
 * One module's schema, migrations and URL, selected as every artstore-db command selects them: for the
 * storage element, STORAGE_ELEMENT_PREFIX picks the instance and STORAGE_ELEMENT_LAYOUT=shared puts its
 * history in `artstore_<prefix>` (the URL's `artstore_history`), its tables in the URL's schema.
 * Always the project's own module folders: this file is theirs.
 */
export function configFor(name: ModuleName, env: Record<string, string | undefined> = process.env) {
  const [module] = modulesFor({ module: name, env, prismaDir: defaultPrismaDir })
  const url = withoutPassword(resolveModuleUrl(module, env)?.url)
  return {
    schema: module.schemaFile,
    migrations: { path: module.migrationsDir },
    ...(url ? { datasource: { url } } : {}),
  }
}
