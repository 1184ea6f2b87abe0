// What the committed module folders say, for tests that must not pin them: the migration history as
// it is on disk, and the tables the schema declares. A later migration changes these, not the tests.
import fs from 'node:fs'
import { readLocalMigrations } from '../../src/history/history.ts'
import { modules, type ModuleName } from '../../src/modules.ts'

/** The committed migrations of a module, oldest first (0_baseline and every one after it). */
export const historyOf = (module: ModuleName, dir = modules[module].migrationsDir): string[] => readLocalMigrations(dir).map((m) => m.name)

/** The tables a schema.prisma declares (each model's @@map, else its name), sorted; `prefix` renders another storage-element instance. */
export function schemaTables(module: ModuleName, prefix?: string, file = modules[module].schemaFile): string[] {
  const text = fs.readFileSync(file, 'utf8')
  const tables = [...text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)].map(([, name, body]) => /^\s*@@map\("([^"]+)"\)/m.exec(body)?.[1] ?? name)
  return tables.map((t) => (prefix ? t.replaceAll('storage_elem_01', prefix) : t)).sort()
}
