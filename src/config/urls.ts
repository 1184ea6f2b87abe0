import { InvalidUrlError } from '../errors.ts'
import type { ModuleInfo } from '../modules.ts'

/** Where a module's database URL came from. */
export type UrlSource = ModuleInfo['urlVariable'] | 'DATABASE_URL' | 'embedded'

export interface ModuleUrl {
  /** The URL handed to Prisma, including `?schema=` when the module shares a database. */
  url: string
  source: UrlSource
  /** The PostgreSQL schema that holds the module's tables and its `_prisma_migrations`. */
  pgSchema: string
}

type Env = Record<string, string | undefined>

/**
 * Parses and checks a PostgreSQL URL; throws InvalidUrlError naming `variable` when it is not one.
 * The password is never part of the message.
 */
export function parsePgUrl(raw: string, variable: string): URL {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new InvalidUrlError(variable, 'it does not parse as a URL')
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new InvalidUrlError(variable, `scheme "${u.protocol.replace(/:$/, '')}" is not postgresql`)
  }
  if (!u.hostname) throw new InvalidUrlError(variable, 'it has no host')
  if (u.pathname.length <= 1) throw new InvalidUrlError(variable, 'it names no database')
  return u
}

function withSchema(u: URL, pgSchema: string): string {
  const copy = new URL(u)
  copy.searchParams.set('schema', pgSchema)
  return copy.toString()
}

/**
 * The database URL of one module, from (in order) its own variable, DATABASE_URL with the module's
 * schema, or the embedded server's URL. Returns undefined when none applies.
 * DATABASE_URL must not carry `?schema=`: sharing one schema would mix the modules' histories.
 */
export function resolveModuleUrl(module: ModuleInfo, env: Env, embeddedUrl?: string): ModuleUrl | undefined {
  const own = env[module.urlVariable]
  if (own) {
    const u = parsePgUrl(own, module.urlVariable)
    return { url: own, source: module.urlVariable, pgSchema: u.searchParams.get('schema') ?? 'public' }
  }
  const shared = env.DATABASE_URL
  if (shared) {
    const u = parsePgUrl(shared, 'DATABASE_URL')
    if (u.searchParams.has('schema')) {
      throw new InvalidUrlError(
        'DATABASE_URL',
        `it sets ?schema=, but each module gets its own schema; remove it, or use ${module.urlVariable}`,
      )
    }
    return { url: withSchema(u, module.pgSchema), source: 'DATABASE_URL', pgSchema: module.pgSchema }
  }
  if (embeddedUrl) {
    return { url: withSchema(new URL(embeddedUrl), module.pgSchema), source: 'embedded', pgSchema: module.pgSchema }
  }
  return undefined
}

/** True when no module has a URL of its own, so the embedded server is needed. */
export function needsEmbedded(selected: readonly ModuleInfo[], env: Env): boolean {
  return selected.some((m) => !env[m.urlVariable] && !env.DATABASE_URL)
}

/** The URL with its password replaced by `****`, safe to print. */
export function maskUrl(raw: string): string {
  try {
    const u = new URL(raw)
    if (u.password) u.password = '****'
    return u.toString()
  } catch {
    return maskSecrets(raw)
  }
}

/**
 * Masks every `scheme://user:password@` password in free text, plus each literal secret given
 * (a password may also appear outside a URL, e.g. in a driver's error message).
 */
export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)([^@\s/]+)@/gi, '$1****@')
  for (const s of secrets) {
    if (s.length >= 3) out = out.split(s).join('****')
  }
  return out
}

/** The decoded passwords of the given URLs, to be masked wherever they might be echoed. */
export function passwordsOf(urls: readonly string[]): string[] {
  const out = new Set<string>()
  for (const raw of urls) {
    try {
      const u = new URL(raw)
      if (u.password) {
        out.add(u.password)
        out.add(decodeURIComponent(u.password))
      }
    } catch {
      /* not a URL: nothing to mask */
    }
  }
  return [...out]
}
