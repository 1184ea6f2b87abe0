import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import { UsageError } from '../errors.ts'
import { projectRoot, type ModuleInfo } from '../modules.ts'

/** The critical data the migration plan names: accounts, key state, element configuration, users. */
export function criticalTables(module: ModuleInfo, moduleTables: readonly string[]): string[] {
  if (module.name === 'admin') return ['users', 'service_accounts', 'jwt_keys', 'storage_elements'].filter((t) => moduleTables.includes(t))
  if (module.name === 'storage-element') return moduleTables.filter((t) => t.endsWith('_config'))
  return []
}

/** Where a backup was taken: restore refuses another target unless told otherwise. */
export interface BackupSource {
  /** host:port of the server. */
  server: string
  database: string
  pgSchema: string
  module: string
  prefix?: string
}

export interface BackupManifest {
  format: 'artstore-backup/2'
  module: string
  pgSchema: string
  source: BackupSource
  createdAt: string
  tables: { table: string; file: string; rows: number; sha256: string }[]
  /** HMAC-SHA256 of the manifest without this field, with the key in .artstore/backup.key (outside every backup). */
  hmac: string
}

/** Backups live under .artstore/backups (git-ignored), readable by their owner only. */
export const backupRoot = () => path.join(projectRoot, '.artstore', 'backups')

/**
 * `<root>/<name>`, owner-only (0700). Only that folder: the folders above it are made with the usual
 * mode, since `.artstore/` also holds the embedded server's data folder, which its own system user
 * (postgres, when run as root) must be able to reach.
 */
export function makeOwnerOnlyFolder(root: string, name: string): string {
  fs.mkdirSync(root, { recursive: true })
  const dir = path.join(root, name)
  fs.mkdirSync(dir, { mode: 0o700 })
  fs.chmodSync(dir, 0o700)
  return dir
}

/** The key that authenticates backup manifests: made once, owner-only, never inside a backup folder. */
const keyFile = () => path.join(projectRoot, '.artstore', 'backup.key')

/** How many backups of each module are kept (ARTSTORE_BACKUPS_KEEP, default 10); older ones are removed. */
export const backupsKept = (env: Record<string, string | undefined> = process.env) => {
  const n = Number(env.ARTSTORE_BACKUPS_KEEP ?? 10)
  return Number.isInteger(n) && n >= 1 ? n : 10
}

function backupKey(create: boolean): Buffer | undefined {
  const file = keyFile()
  if (!fs.existsSync(file)) {
    if (!create) return undefined
    fs.mkdirSync(path.dirname(file), { recursive: true })
    try {
      fs.writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' })
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e // another adopt made it a moment ago
    }
  }
  return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex')
}

const signature = (key: Buffer, m: Omit<BackupManifest, 'hmac'>) => createHmac('sha256', key).update(JSON.stringify(m)).digest('hex')

/** Removes the module's oldest backups beyond the number kept. Returns the folders removed. */
export function pruneBackups(module: string, keep = backupsKept()): string[] {
  const root = backupRoot()
  if (!fs.existsSync(root)) return []
  const mine = fs
    .readdirSync(root)
    .filter((d) => d.startsWith(`${module}-`) && fs.statSync(path.join(root, d)).isDirectory())
    .sort()
  const old = mine.slice(0, Math.max(0, mine.length - keep))
  for (const d of old) fs.rmSync(path.join(root, d), { recursive: true, force: true })
  return old.map((d) => path.join(root, d))
}

/**
 * Exports the rows of `tables` as JSON, one file per table plus backup.json (where it was taken, each
 * file's sha256, and an HMAC over all of it), in a new folder with owner-only permissions (0700
 * folder, 0600 files). Then removes the module's backups beyond the number kept. Returns the folder.
 * Nothing is printed: the files hold password hashes and private keys.
 */
export async function backupTables(
  c: pg.ClientBase,
  module: ModuleInfo,
  schema: string,
  tables: readonly string[],
  source: BackupSource,
  when = new Date(),
): Promise<string> {
  const dir = makeOwnerOnlyFolder(backupRoot(), `${module.name}-${when.toISOString().replace(/[:.]/g, '-')}`)
  const unsigned: Omit<BackupManifest, 'hmac'> = {
    format: 'artstore-backup/2',
    module: module.name,
    pgSchema: schema,
    source,
    createdAt: when.toISOString(),
    tables: [],
  }
  for (const table of tables) {
    const { rows } = await c.query<{ data: unknown[] }>(`select coalesce(json_agg(t), '[]'::json) as data from ${quoteIdent(schema)}.${quoteIdent(table)} t`)
    const text = `${JSON.stringify(rows[0].data, null, 1)}\n`
    const file = `${table}.json`
    fs.writeFileSync(path.join(dir, file), text, { mode: 0o600 })
    unsigned.tables.push({ table, file, rows: rows[0].data.length, sha256: createHash('sha256').update(text).digest('hex') })
  }
  const manifest: BackupManifest = { ...unsigned, hmac: signature(backupKey(true)!, unsigned) }
  fs.writeFileSync(path.join(dir, 'backup.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
  pruneBackups(module.name)
  return dir
}

export class BackupUnreadableError extends UsageError {
  constructor(dir: string, reason: string) {
    super(`${dir} is not a usable backup (${reason}): give the folder adopt printed, under .artstore/backups/`)
  }
}

/**
 * Reads and checks a backup folder: its manifest is authentic (the HMAC, with the key outside the
 * folder), names only `allowedTables`, points only at files directly inside the folder, and every file
 * matches its sha256. Anything else is refused before a row is read.
 */
export function readBackup(
  dir: string,
  allowedTables: (manifest: BackupManifest) => readonly string[],
): { manifest: BackupManifest; data: Map<string, Record<string, unknown>[]> } {
  const file = path.join(dir, 'backup.json')
  if (!fs.existsSync(file)) throw new BackupUnreadableError(dir, 'no backup.json')
  let manifest: BackupManifest
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as BackupManifest
  } catch {
    throw new BackupUnreadableError(dir, 'backup.json is not JSON')
  }
  if (manifest?.format !== 'artstore-backup/2') throw new BackupUnreadableError(dir, `unknown format ${String(manifest?.format)}`)
  const key = backupKey(false)
  if (!key) throw new BackupUnreadableError(dir, 'the key that signs backups, .artstore/backup.key, is missing')
  const { hmac, ...unsigned } = manifest
  const expected = Buffer.from(signature(key, unsigned), 'hex')
  const given = Buffer.from(String(hmac ?? ''), 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new BackupUnreadableError(dir, 'backup.json is not signed by this project: it was changed, or made elsewhere')
  const allowed = allowedTables(manifest)
  const root = fs.realpathSync(dir)
  const data = new Map<string, Record<string, unknown>[]>()
  for (const t of manifest.tables) {
    if (!allowed.includes(t.table)) throw new BackupUnreadableError(dir, `table ${t.table} is not one of the ${manifest.module} module's backed-up tables`)
    const at = path.join(root, t.file)
    if (path.basename(t.file) !== t.file || !fs.existsSync(at) || path.dirname(fs.realpathSync(at)) !== root) {
      throw new BackupUnreadableError(dir, `${t.table}'s file is not a file of the backup folder`)
    }
    const text = fs.readFileSync(at, 'utf8')
    if (createHash('sha256').update(text).digest('hex') !== t.sha256) throw new BackupUnreadableError(dir, `${t.file} does not match its sha256`)
    data.set(t.table, JSON.parse(text))
  }
  return { manifest, data }
}

/** Where a target is, in the terms a backup records. */
export function sourceOf(url: string, pgSchema: string, module: ModuleInfo): BackupSource {
  const u = new URL(url)
  return {
    server: `${u.hostname}:${u.port || 5432}`,
    database: decodeURIComponent(u.pathname.slice(1)),
    pgSchema,
    module: module.name,
    ...(module.prefix ? { prefix: module.prefix } : {}),
  }
}
