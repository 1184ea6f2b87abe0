import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { UnknownModuleError } from './errors.ts'

/**
 * The project root (the folder of package.json above this file, whether it runs from src/ or from
 * the built dist/): every path in the registry is resolved from here, whatever the cwd.
 */
export const projectRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)))

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}

export const moduleNames = ['admin', 'storage-element', 'query'] as const
export type ModuleName = (typeof moduleNames)[number]

export interface ModuleInfo {
  name: ModuleName
  /** Absolute path of the module's Prisma schema: the single source of truth of its tables. */
  schemaFile: string
  /** Absolute path of the module's prisma.config.ts; every Prisma CLI call passes it as --config. */
  configFile: string
  /** Absolute path of the module's migrations folder. */
  migrationsDir: string
  /** The variable that overrides DATABASE_URL for this module alone. */
  urlVariable: 'ADMIN_DATABASE_URL' | 'STORAGE_ELEMENT_DATABASE_URL' | 'QUERY_DATABASE_URL'
  /**
   * The PostgreSQL schema the module lives in when it shares a database with the others
   * (DATABASE_URL or the embedded default). It holds the module's `_prisma_migrations` table,
   * so it must never change once a database has been deployed.
   */
  pgSchema: string
  /** Storage element only: the instance's table prefix, when it is not the schema file's own. */
  prefix?: string
  /**
   * Storage element in the shared layout (STORAGE_ELEMENT_LAYOUT=shared): the schema of this
   * instance's `_prisma_migrations`, apart from its tables, which sit in pgSchema beside the others'.
   */
  historySchema?: string
  /** Storage-element instances: the module folder they are rendered from (where migrations are written). */
  template?: ModuleInfo
  /** Variables every Prisma process of this module gets (e.g. STORAGE_ELEMENT_PREFIX). */
  prismaEnv?: Record<string, string>
}

/** The project's own module folders: `prisma/`. */
export const defaultPrismaDir = path.join(projectRoot, 'prisma')

function describe(root: string, name: ModuleName, urlVariable: ModuleInfo['urlVariable'], pgSchema: string): ModuleInfo {
  const dir = path.join(root, name)
  return {
    name,
    schemaFile: path.join(dir, 'schema.prisma'),
    configFile: path.join(dir, 'prisma.config.ts'),
    migrationsDir: path.join(dir, 'migrations'),
    urlVariable,
    pgSchema,
  }
}

/**
 * The registry of the modules whose folders are in `root` (default `prisma/`). Another root serves
 * scratch copies of the schemas (ARTSTORE_PRISMA_DIR): the same modules, other files.
 */
export function modulesAt(root: string): Readonly<Record<ModuleName, ModuleInfo>> {
  return {
    admin: describe(root, 'admin', 'ADMIN_DATABASE_URL', 'admin'),
    'storage-element': describe(root, 'storage-element', 'STORAGE_ELEMENT_DATABASE_URL', 'storage_element'),
    query: describe(root, 'query', 'QUERY_DATABASE_URL', 'query'),
  }
}

export const modules = modulesAt(defaultPrismaDir)

/** The module named `name`; throws UnknownModuleError naming the valid ones. */
export function getModule(name: string): ModuleInfo {
  if (!(moduleNames as readonly string[]).includes(name)) throw new UnknownModuleError(name, moduleNames)
  return modules[name as ModuleName]
}

/**
 * The modules a command acts on: the one given, or all of them in registry order. `instance`
 * replaces the storage element by another of its instances (see src/prefix/prefix.ts).
 */
export function selectModules(name?: string, instance?: (m: ModuleInfo) => ModuleInfo, registry = modules): ModuleInfo[] {
  const selected = name === undefined ? moduleNames.map((n) => registry[n]) : [registry[getModule(name).name]]
  return instance ? selected.map((m) => (m.name === 'storage-element' ? instance(m) : m)) : selected
}

/** The commands' flags that name a module: `--module <m>`, with `--prefix <p>` for a storage-element instance. */
export const moduleFlags = (m: { name: string; prefix?: string }): string => `--module ${m.name}${m.prefix ? ` --prefix ${m.prefix}` : ''}`
