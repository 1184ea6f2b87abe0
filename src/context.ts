import { checkConnection, withModuleTargets, type ModuleTarget } from './db/targets.ts'
import type { TurnWait } from './db/lock.ts'
import path from 'node:path'
import { getModule, modules, modulesAt, selectModules, type ModuleInfo } from './modules.ts'
import { OptionForOtherModuleError, UsageError } from './errors.ts'
import { DEFAULT_PREFIX, storageElementInstance, validatePrefix } from './prefix/prefix.ts'

/** What every database command takes. */
export interface CommandOptions {
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
  /** Called as each module's work starts and ends (the CLI shows it on a terminal); never with results. */
  onProgress?: (e: ModuleProgress) => void
  /** Called while a deploy or rollback waits for the database's deploy turn, with who holds it (the CLI shows it on a terminal). */
  onTurnWait?: (w: TurnWait) => void
}

/** One module's work starting or ending, for progress shown while a long command runs. */
export interface ModuleProgress {
  module: string
  /** Storage element: the instance's prefix, when it is not the default. */
  prefix?: string
  phase: 'start' | 'done' | 'failed'
  /** done, failed: how long it took. */
  ms?: number
}

/** Runs one module's part of a command, telling `opts.onProgress` when it starts and ends. */
export async function moduleStep<T>(opts: Pick<CommandOptions, 'onProgress'>, t: ModuleTarget, fn: () => Promise<T>): Promise<T> {
  if (!opts.onProgress) return fn()
  const who = { module: t.module.name, ...(t.module.prefix ? { prefix: t.module.prefix } : {}) }
  const started = performance.now()
  opts.onProgress({ ...who, phase: 'start' })
  try {
    const r = await fn()
    opts.onProgress({ ...who, phase: 'done', ms: Math.round(performance.now() - started) })
    return r
  } catch (e) {
    opts.onProgress({ ...who, phase: 'failed', ms: Math.round(performance.now() - started) })
    throw e
  }
}

export const LAYOUTS = ['schema', 'shared'] as const

export class UnknownLayoutError extends UsageError {
  constructor(given: string) {
    super(
      `storage-element layout "${given}" is not one of ${LAYOUTS.join(', ')}: set STORAGE_ELEMENT_LAYOUT to shared (instances side by side in one schema) or schema (one schema per instance, the default)`,
    )
  }
}

/** The storage element's module in the shared layout: tables in the services' schema, history apart. */
function sharedLayout(m: ModuleInfo): ModuleInfo {
  const prefix = m.prefix ?? DEFAULT_PREFIX
  return { ...m, pgSchema: 'public', historySchema: `artstore_${prefix}` }
}

/** The selected modules, with the storage element rendered for the requested prefix. */
export function modulesFor(opts: CommandOptions): ModuleInfo[] {
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

/**
 * The one setup every database command shares: select the modules, resolve their databases (starting
 * the embedded server if needed), and prove each is reachable before anything is changed.
 */
export function withCheckedTargets<T>(opts: CommandOptions, fn: (targets: ModuleTarget[]) => Promise<T>): Promise<T> {
  const selected = modulesFor(opts)
  return withModuleTargets(selected, opts.env ?? process.env, async (targets) => {
    await eachTarget(targets, checkConnection)
    return fn(targets)
  })
}

/** How a module's database is described in every report (the URL is masked). */
export const describeTarget = (t: ModuleTarget) => ({
  module: t.module.name,
  /** Storage element only: the instance's table prefix, when it is not the schema file's own. */
  prefix: t.module.prefix,
  /** Shared layout only: the schema of the instance's history. */
  historySchema: t.module.historySchema,
  database: t.display,
  source: t.source,
  pgSchema: t.pgSchema,
})

/**
 * Runs `fn` for every target at once and returns the results in the targets' order. When any fails,
 * the first failure in that order is thrown (so that the error named is the same on every run), after
 * all have settled.
 */
export async function eachTarget<T>(targets: readonly ModuleTarget[], fn: (t: ModuleTarget) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled(targets.map(fn))
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value)
}
