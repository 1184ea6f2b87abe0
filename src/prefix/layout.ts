import path from 'node:path'
import { OptionForOtherModuleError, UsageError } from '../errors.ts'
import { getModule, modules, modulesAt, selectModules, type ModuleInfo } from '../modules.ts'
import { DEFAULT_PREFIX, storageElementInstance, validatePrefix } from './prefix.ts'

/**
 * Which modules a command acts on, and the storage-element instance among them: the one place that turns
 * a prefix and a layout (options, else STORAGE_ELEMENT_PREFIX and STORAGE_ELEMENT_LAYOUT) into modules,
 * shared by every command and by the modules' prisma.config.ts (prisma/config.ts). Kept apart from
 * ../context.ts, so that a Prisma config loads none of the database code.
 */
export interface ModuleSelection {
  /** One module, or all of them when omitted. */
  module?: string
  /** Where the database URLs are read from; default process.env. */
  env?: Record<string, string | undefined>
  /** The storage element's table prefix; default STORAGE_ELEMENT_PREFIX, else the schema file's. */
  prefix?: string
  /**
   * Where the module folders are; default ARTSTORE_PRISMA_DIR, else the project's `prisma/`. Tests
   * point it at scratch copies, so that the committed schemas stay as they are.
   */
  prismaDir?: string
  /**
   * How storage-element instances share a database: `schema` (default: each instance on a shared
   * database in a PostgreSQL schema of its own) or `shared` (the services' layout: every instance's
   * tables side by side in one schema, `public` unless the URL says otherwise, each instance's history
   * in a schema of its own, `artstore_<prefix>`). Default STORAGE_ELEMENT_LAYOUT.
   */
  layout?: string
}

export const LAYOUTS = ['schema', 'shared'] as const

export class UnknownLayoutError extends UsageError {
  constructor(given: string) {
    super(
      `storage-element layout "${given}" is not one of ${LAYOUTS.join(', ')}: set STORAGE_ELEMENT_LAYOUT to shared (instances side by side in one schema) or schema (one schema per instance, the default)`,
    )
  }
}

const HISTORY_SCHEMA_PREFIX = 'artstore_'

/** The schema of a storage-element instance's history in the shared layout. */
export const sharedHistorySchema = (prefix: string): string => `${HISTORY_SCHEMA_PREFIX}${prefix}`

/** The instance prefix of a shared-layout history schema (`artstore_<prefix>`); undefined for another name. */
export const prefixOfHistorySchema = (schema: string): string | undefined =>
  schema.startsWith(HISTORY_SCHEMA_PREFIX) && schema.length > HISTORY_SCHEMA_PREFIX.length ? schema.slice(HISTORY_SCHEMA_PREFIX.length) : undefined

/** The storage element's module in the shared layout: tables in the services' schema, history apart. */
function sharedLayout(m: ModuleInfo): ModuleInfo {
  return { ...m, pgSchema: 'public', historySchema: sharedHistorySchema(m.prefix ?? DEFAULT_PREFIX) }
}

/** The selected modules, with the storage element rendered for the requested prefix. */
export function modulesFor(opts: ModuleSelection): ModuleInfo[] {
  // An empty --prefix is a mistake, never "the default": it is validated (and refused) like any other.
  if (opts.prefix === '') validatePrefix('')
  const prefix = opts.prefix ?? (opts.env ?? process.env).STORAGE_ELEMENT_PREFIX
  if (opts.prefix !== undefined && opts.module !== undefined && getModule(opts.module).name !== 'storage-element') {
    throw new OptionForOtherModuleError('--prefix', opts.module, 'storage-element', 'drop --prefix or use --module storage-element')
  }
  const dir = opts.prismaDir ?? (opts.env ?? process.env).ARTSTORE_PRISMA_DIR
  const registry = dir ? modulesAt(path.resolve(dir)) : modules
  const layout = opts.layout ?? (opts.env ?? process.env).STORAGE_ELEMENT_LAYOUT ?? 'schema'
  if (!(LAYOUTS as readonly string[]).includes(layout)) throw new UnknownLayoutError(layout)
  const instance = (m: ModuleInfo) => {
    const rendered = prefix ? storageElementInstance(prefix, m) : m
    return layout === 'shared' ? sharedLayout(rendered) : rendered
  }
  return selectModules(opts.module, prefix || layout === 'shared' ? instance : undefined, registry)
}
