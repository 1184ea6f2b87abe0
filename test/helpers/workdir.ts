import fs from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../../src/modules.ts'

/**
 * Where tests make their scratch folders: `.artstore/tmp` (inside the project, so that config files
 * there resolve the project's node_modules), or ARTSTORE_TEST_TMP (relative to the project) when two
 * runs share the checkout at once (CI runs the suite on two servers side by side).
 */
export const scratchRootRelative = process.env.ARTSTORE_TEST_TMP ?? path.join('.artstore', 'tmp')
export const scratchRoot = path.resolve(projectRoot, scratchRootRelative)

/** `text` as a regular expression that matches it literally. */
export const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/**
 * A scratch copy of a fixture folder under the scratch root (inside the project, so that its config
 * files resolve the project's node_modules). Returns the folder's path.
 */
export function scratchCopy(fixture: string, name: string): string {
  const dir = path.join(scratchRoot, name)
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
