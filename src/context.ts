import { checkConnection, withModuleTargets, type ModuleTarget } from './db/targets.ts'
import type { TurnWait } from './db/lock.ts'
import { modulesFor, type ModuleSelection } from './prefix/layout.ts'

export { modulesFor } from './prefix/layout.ts'

/** What every database command takes. */
export interface CommandOptions extends ModuleSelection {
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
