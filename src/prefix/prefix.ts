import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { UsageError } from '../errors.ts'
import { modules, type ModuleInfo } from '../modules.ts'

/** The prefix written in prisma/storage-element/: the single source every other instance is rendered from. */
export const DEFAULT_PREFIX = 'storage_elem_01'
const PREFIX_PATTERN = /^[a-z][a-z0-9_]{0,40}$/
/** PostgreSQL truncates longer identifiers, which would silently merge names. */
const MAX_IDENTIFIER = 63

export class InvalidPrefixError extends UsageError {
  constructor(prefix: string, reason: string, fix = 'use lower-case letters, digits and _ (e.g. --prefix storage_elem_02)') {
    super(`storage-element prefix "${prefix}" ${reason}: ${fix}`)
  }
}

/** Replaces the schema file's prefix by `prefix` in every physical name of a text. */
export const renderPrefix = (text: string, prefix: string): string => text.replaceAll(DEFAULT_PREFIX, prefix)

/** Checks the pattern and that no rendered table, index or function name exceeds PostgreSQL's limit. */
export function validatePrefix(prefix: string, base: ModuleInfo = modules['storage-element']): string {
  if (!PREFIX_PATTERN.test(prefix)) throw new InvalidPrefixError(prefix, 'does not match ^[a-z][a-z0-9_]{0,40}$')
  const baseline = path.join(base.migrationsDir, '0_baseline', 'migration.sql')
  const names = new Set((fs.existsSync(baseline) ? fs.readFileSync(baseline, 'utf8') : '').match(/\bstorage_elem_01\w*/g) ?? [])
  const longest = [...names].map((n) => renderPrefix(n, prefix)).sort((a, b) => b.length - a.length)[0]
  if (longest && longest.length > MAX_IDENTIFIER) {
    throw new InvalidPrefixError(
      prefix,
      `is too long: it makes ${longest} ${longest.length} characters, and PostgreSQL keeps ${MAX_IDENTIFIER}`,
      'use a shorter prefix',
    )
  }
  return prefix
}

function copyRendered(from: string, to: string, prefix: string): void {
  if (!fs.existsSync(from)) return
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name)
    const dst = path.join(to, entry.name)
    if (entry.isDirectory()) {
      fs.mkdirSync(dst, { recursive: true })
      copyRendered(src, dst, prefix)
    } else if (/\.(prisma|sql|toml)$/.test(entry.name)) {
      fs.writeFileSync(dst, renderPrefix(fs.readFileSync(src, 'utf8'), prefix))
    }
  }
}

let renderRoot: string | undefined

/** This process's folder of rendered instances: private, and removed when the process ends. */
function renderFolder(): string {
  if (!renderRoot) {
    const made = fs.mkdtempSync(path.join(os.tmpdir(), 'artstore-instances-'))
    process.once('exit', () => fs.rmSync(made, { recursive: true, force: true }))
    renderRoot = made
  }
  return renderRoot
}

/**
 * The storage-element module for another instance prefix. Its schema, extras and migrations are
 * rendered from prisma/storage-element/ (or a scratch copy: `base`) into a private temporary folder of
 * this process, removed when it ends: a command never leaves a rendered instance behind, and every
 * command reads the committed files as they are now. On a shared database the instance gets a
 * PostgreSQL schema named after the prefix, so its history table sits with its tables and apart from
 * every other instance's.
 */
export function storageElementInstance(prefix: string, base: ModuleInfo = modules['storage-element']): ModuleInfo {
  if (prefix === DEFAULT_PREFIX) return base
  validatePrefix(prefix, base)
  const source = path.dirname(base.schemaFile)
  // A folder of its own for every rendering: a fleet may render one prefix for several databases at once.
  const dir = fs.mkdtempSync(path.join(renderFolder(), `${prefix}-`))
  fs.writeFileSync(path.join(dir, 'schema.prisma'), renderPrefix(fs.readFileSync(base.schemaFile, 'utf8'), prefix))
  for (const sub of ['sql', 'migrations']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true })
    copyRendered(path.join(source, sub), path.join(dir, sub), prefix)
  }
  return {
    ...base,
    schemaFile: path.join(dir, 'schema.prisma'),
    migrationsDir: path.join(dir, 'migrations'),
    pgSchema: prefix,
    prefix,
    template: base,
    prismaEnv: { STORAGE_ELEMENT_PREFIX: prefix },
  }
}
