import fs from 'node:fs'
import path from 'node:path'
import type { MigrationList } from '@prisma/schema-engine-wasm'

const LOCKFILE = 'migration_lock.toml'
const MIGRATION_FILE = 'migration.sql'

/**
 * A migrations folder as the Prisma CLI hands it to the engine: every sub-folder (sorted like the CLI,
 * with localeCompare) with its migration.sql or the error reading it, and the lock file. The engine
 * computes checksums and history from exactly this, so it must match the CLI byte for byte.
 */
export function engineMigrationsList(dir: string): MigrationList {
  const lockfile = { path: LOCKFILE, content: readOrNull(path.join(dir, LOCKFILE)) }
  let entries: fs.Dirent[] = []
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    // A missing folder is an empty history, as for the CLI.
  }
  const migrationDirectories = entries
    .filter((e) => e.isDirectory())
    .map((e) => {
      let content: { tag: 'ok'; value: string } | { tag: 'error'; value: string }
      try {
        content = { tag: 'ok', value: fs.readFileSync(path.join(dir, e.name, MIGRATION_FILE), 'utf8') }
      } catch (err) {
        content = { tag: 'error', value: (err as Error).message }
      }
      return { path: e.name, migrationFile: { path: MIGRATION_FILE, content } }
    })
    .sort((a, b) => a.path.localeCompare(b.path))
  return { baseDir: dir, lockfile, migrationDirectories, shadowDbInitScript: '' }
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return null
  }
}
