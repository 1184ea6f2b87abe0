import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { quoteIdent } from '../db/pg-config.ts'
import { ArtstoreError } from '../errors.ts'
import { projectRoot, type ModuleInfo } from '../modules.ts'

/** The critical data the migration plan names: accounts, key state, element configuration, users. */
export function criticalTables(module: ModuleInfo, moduleTables: readonly string[]): string[] {
  if (module.name === 'admin') return ['users', 'service_accounts', 'jwt_keys', 'storage_elements'].filter((t) => moduleTables.includes(t))
  if (module.name === 'storage-element') return moduleTables.filter((t) => t.endsWith('_config'))
  return []
}

export interface BackupManifest {
  format: 'artstore-backup/1'
  module: string
  pgSchema: string
  createdAt: string
  tables: { table: string; file: string; rows: number; sha256: string }[]
}

/** Backups live under .artstore/backups (git-ignored), readable by their owner only. */
export const backupRoot = () => path.join(projectRoot, '.artstore', 'backups')

/**
 * Exports the rows of `tables` as JSON, one file per table plus backup.json, in a new folder with
 * owner-only permissions (0700 folder, 0600 files). Returns the folder. Nothing is printed: the files
 * hold password hashes and private keys.
 */
export async function backupTables(c: pg.ClientBase, module: ModuleInfo, schema: string, tables: readonly string[], when = new Date()): Promise<string> {
  const dir = path.join(backupRoot(), `${module.name}-${when.toISOString().replace(/[:.]/g, '-')}`)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.chmodSync(dir, 0o700)
  const manifest: BackupManifest = { format: 'artstore-backup/1', module: module.name, pgSchema: schema, createdAt: when.toISOString(), tables: [] }
  for (const table of tables) {
    const { rows } = await c.query<{ data: unknown[] }>(`select coalesce(json_agg(t), '[]'::json) as data from ${quoteIdent(schema)}.${quoteIdent(table)} t`)
    const text = `${JSON.stringify(rows[0].data, null, 1)}\n`
    const file = `${table}.json`
    fs.writeFileSync(path.join(dir, file), text, { mode: 0o600 })
    manifest.tables.push({ table, file, rows: rows[0].data.length, sha256: createHash('sha256').update(text).digest('hex') })
  }
  fs.writeFileSync(path.join(dir, 'backup.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 })
  return dir
}

export class BackupUnreadableError extends ArtstoreError {
  constructor(dir: string, reason: string) {
    super(`${dir} is not a usable backup (${reason}): give the folder adopt printed, under .artstore/backups/`)
  }
}

/** Reads and checks a backup folder: its manifest, and every file against its sha256. */
export function readBackup(dir: string): { manifest: BackupManifest; data: Map<string, Record<string, unknown>[]> } {
  const file = path.join(dir, 'backup.json')
  if (!fs.existsSync(file)) throw new BackupUnreadableError(dir, 'no backup.json')
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as BackupManifest
  if (manifest.format !== 'artstore-backup/1') throw new BackupUnreadableError(dir, `unknown format ${manifest.format}`)
  const data = new Map<string, Record<string, unknown>[]>()
  for (const t of manifest.tables) {
    const text = fs.readFileSync(path.join(dir, t.file), 'utf8')
    if (createHash('sha256').update(text).digest('hex') !== t.sha256) throw new BackupUnreadableError(dir, `${t.file} does not match its sha256`)
    data.set(t.table, JSON.parse(text))
  }
  return { manifest, data }
}
