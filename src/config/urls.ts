import { InvalidUrlError } from '../errors.ts'
import type { ModuleInfo } from '../modules.ts'

/**
 * The URL parameter that names a storage-element instance's history schema in the shared layout
 * (instances side by side in one schema): its `_prisma_migrations` lives there, its tables in `?schema=`.
 */
export const HISTORY_PARAM = 'artstore_history'

/** Where a module's database URL came from. */
export type UrlSource = ModuleInfo['urlVariable'] | 'DATABASE_URL' | 'embedded'

export interface ModuleUrl {
  /** The URL handed to Prisma, including `?schema=` when the module shares a database. */
  url: string
  source: UrlSource
  /** The PostgreSQL schema that holds the module's tables (and its `_prisma_migrations`, unless historySchema). */
  pgSchema: string
  /** Shared layout only: the schema of the instance's `_prisma_migrations`. */
  historySchema?: string
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
  const found = resolveBaseUrl(module, env, embeddedUrl)
  if (!found || !module.historySchema) return found
  const u = new URL(found.url)
  u.searchParams.set(HISTORY_PARAM, module.historySchema)
  return { ...found, url: u.toString(), historySchema: module.historySchema }
}

function resolveBaseUrl(module: ModuleInfo, env: Env, embeddedUrl?: string): ModuleUrl | undefined {
  const own = env[module.urlVariable]
  if (own) {
    const u = parsePgUrl(own, module.urlVariable)
    return { url: own, source: module.urlVariable, pgSchema: u.searchParams.get('schema') ?? 'public' }
  }
  const shared = env.DATABASE_URL
  if (shared) {
    const u = parsePgUrl(shared, 'DATABASE_URL')
    if (u.searchParams.has('schema')) {
      throw new InvalidUrlError('DATABASE_URL', `it sets ?schema=, but each module gets its own schema; remove it, or use ${module.urlVariable}`)
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

/** The variables that name databases. */
export const URL_VARIABLES = ['DATABASE_URL', 'ADMIN_DATABASE_URL', 'STORAGE_ELEMENT_DATABASE_URL', 'QUERY_DATABASE_URL'] as const

/** Edit distance of two short names (insertions, deletions, substitutions, adjacent swaps). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * Set variables that look like a misspelt database variable (`DATABSE_URL`, `ADMIN_DB_URL`, …), each
 * with the one it probably means: a typo would otherwise send the module to the embedded database.
 */
export function nearMissVariables(env: Env): { name: string; meant: string }[] {
  const out: { name: string; meant: string }[] = []
  for (const name of Object.keys(env)) {
    if (env[name] === undefined || (URL_VARIABLES as readonly string[]).includes(name)) continue
    const upper = name.toUpperCase()
    const close = URL_VARIABLES.find((v) => distance(upper, v) <= 2)
    const scoped = /^(ADMIN|STORAGE|STORAGE_ELEMENT|QUERY)_(DB|DATABASE|DATABSE|DATBASE)_(URL|URI)$/.exec(upper)
    const meant =
      close ?? (scoped ? URL_VARIABLES.find((v) => v.startsWith(scoped[1])) : undefined) ?? (/^(DB|DATABASE)_(URI)$/.test(upper) ? 'DATABASE_URL' : undefined)
    if (meant && meant !== name) out.push({ name, meant })
  }
  return out
}
