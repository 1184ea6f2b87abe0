import fs from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../../src/modules.ts'

/**
 * A scratch copy of a fixture folder under .artstore/tmp (inside the project, so that its config
 * files resolve the project's node_modules). Returns the folder's path.
 */
export function scratchCopy(fixture: string, name: string): string {
  const dir = path.join(projectRoot, '.artstore', 'tmp', name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  fs.cpSync(path.join(projectRoot, 'test', 'fixtures', fixture), dir, { recursive: true })
  return dir
}

/** Writes `<dir>/migrations/<name>/migration.sql`. */
export function writeMigration(dir: string, name: string, sql: string): void {
  fs.mkdirSync(path.join(dir, 'migrations', name), { recursive: true })
  fs.writeFileSync(path.join(dir, 'migrations', name, 'migration.sql'), sql)
}
