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

/**
 * Whether a URL query parameter holds a secret, masked wherever a URL is shown. libpq's and pg's
 * `password` (pg, like libpq, connects with it: it wins over the userinfo's) and `sslpassword` (the
 * client key's passphrase), and any parameter whose name says it holds a password, passphrase,
 * secret or token (e.g. a cloud provider's IAM token). Parameters that name files (`passfile`,
 * `sslkey`, `sslcert`, `sslrootcert`, Prisma's `sslidentity`) hold paths, not secrets, and stay shown.
 */
export const isSecretParam = (name: string): boolean => /password|passphrase|secret|token|api[-_]?key/i.test(name)

const MASK = '****'

/** A query parameter's name or value as pg reads it (`+` is a space); as written when malformed. */
const decodeParam = (s: string): string => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/** A userinfo part decoded as pg decodes it (`+` is a plus); as written when malformed. */
const decodeUserinfo = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** `name=value` pairs of a raw query string (no `?`), each secret value replaced by ****. */
function maskQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0 || eq === pair.length - 1 || !isSecretParam(decodeParam(pair.slice(0, eq)))) return pair
      return `${pair.slice(0, eq + 1)}${MASK}`
    })
    .join('&')
}

/**
 * The URL with every secret replaced by `****`, safe to print: the userinfo's password and every
 * secret query parameter (isSecretParam). The rest stays as written: a URL's text is masked, not
 * re-serialised, so that it reads as the user wrote it. The one mask every printed URL goes through.
 */
export function maskUrl(raw: string): string {
  if (!URL.canParse(raw)) {
    // Not a URL a driver would take (e.g. an unencoded # in the password): everything between the
    // user's colon and the last @ goes.
    return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)(.*)@/i, `$1${MASK}@`).replace(KEYWORD_IN_TEXT, `$1$2=${MASK}`)
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)
  const at = scheme ? scheme[0].length : 0
  // The authority ends at the first / ? or # (a password holds none of them unencoded); its userinfo
  // at its last @.
  const authorityEnd = scheme ? at + raw.slice(at).search(/[/?#]|$/) : 0
  const authority = raw.slice(at, authorityEnd)
  const userinfoEnd = authority.lastIndexOf('@')
  const colon = authority.indexOf(':')
  let head = raw.slice(0, authorityEnd)
  if (userinfoEnd > 0 && colon >= 0 && colon < userinfoEnd - 1) head = `${raw.slice(0, at + colon + 1)}${MASK}${raw.slice(at + userinfoEnd, authorityEnd)}`
  const rest = raw.slice(authorityEnd)
  const q = rest.indexOf('?')
  if (q < 0) return head + rest
  const hash = rest.indexOf('#', q)
  const query = hash < 0 ? rest.slice(q + 1) : rest.slice(q + 1, hash)
  return `${head}${rest.slice(0, q + 1)}${maskQuery(query)}${hash < 0 ? '' : rest.slice(hash)}`
}

/** A URL in free text: up to the first space, quote or angle bracket (JSON strings and messages quote URLs). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`\\]+/gi
/** A libpq-style `password=value` outside a URL (a conninfo string in a driver's message). */
const KEYWORD_IN_TEXT = /(^|[\s,;(?&])([a-z_]*(?:password|passphrase|secret|token)[a-z_]*)=(?!\*\*\*\*)('[^']*'|[^\s,;)&"']+)/gim

/**
 * Masks every secret in free text: each URL's password and secret query parameters (maskUrl), a
 * conninfo-style `password=…`, plus each literal secret given (a password may also appear outside a
 * URL, e.g. in a driver's error message). Everything the CLI prints goes through this.
 */
export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(URL_IN_TEXT, (url) => {
    // Closing punctuation of the sentence the URL stands in is not part of it.
    const trail = /[),\]]+$/.exec(url)?.[0] ?? ''
    return maskUrl(url.slice(0, url.length - trail.length)) + trail
  })
  out = out.replace(KEYWORD_IN_TEXT, `$1$2=${MASK}`)
  for (const s of secrets) {
    if (s.length >= 3) out = out.split(s).join(MASK)
  }
  return out
}

/**
 * The password a URL connects with, decoded: its `?password=` when set (pg and libpq both take it over
 * the userinfo's), else the userinfo's; '' when it has none.
 */
export function connectPassword(u: URL): string {
  return u.searchParams.get('password') || decodeUserinfo(u.password)
}

/** The URL without any password (userinfo and `?password=`) and the password it connected with. */
export function splitPassword(url: string): { url: string; password: string } {
  const u = new URL(url)
  const password = connectPassword(u)
  if (!password && !u.searchParams.has('password')) return { url, password }
  u.password = ''
  u.searchParams.delete('password')
  return { url: u.toString(), password }
}

/**
 * The secrets of the given URLs (passwords and secret query parameters, raw and decoded), to be masked
 * wherever they might be echoed apart from their URL.
 */
export function passwordsOf(urls: readonly string[]): string[] {
  const out = new Set<string>()
  for (const raw of urls) {
    try {
      const u = new URL(raw)
      if (u.password) {
        out.add(u.password)
        out.add(decodeUserinfo(u.password))
      }
      for (const [name, value] of u.searchParams) if (value && isSecretParam(name)) out.add(value)
      for (const pair of u.search.slice(1).split('&')) {
        const eq = pair.indexOf('=')
        if (eq > 0 && isSecretParam(decodeParam(pair.slice(0, eq))) && pair.length > eq + 1) out.add(pair.slice(eq + 1))
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
