import { checkConnection, withModuleTargets, type ModuleTarget } from './db/targets.ts'
import { selectModules } from './modules.ts'

/** What every database command takes. */
export interface CommandOptions {
  /** One module, or all of them when omitted. */
  module?: string
  /** Where the database URLs are read from; default process.env. */
  env?: Record<string, string | undefined>
}

/**
 * The one setup every database command shares: select the modules, resolve their databases (starting
 * the embedded server if needed), and prove each is reachable before anything is changed.
 */
export function withCheckedTargets<T>(opts: CommandOptions, fn: (targets: ModuleTarget[]) => Promise<T>): Promise<T> {
  const selected = selectModules(opts.module)
  return withModuleTargets(selected, opts.env ?? process.env, async (targets) => {
    for (const t of targets) await checkConnection(t)
    return fn(targets)
  })
}

/** How a module's database is described in every report (the URL is masked). */
export const describeTarget = (t: ModuleTarget) => ({
  module: t.module.name,
  database: t.display,
  source: t.source,
  pgSchema: t.pgSchema,
})
