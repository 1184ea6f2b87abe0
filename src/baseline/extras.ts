import fs from 'node:fs'
import path from 'node:path'
import type { ModuleInfo } from '../modules.ts'

/** One file of what Prisma cannot express (checks, triggers, functions…), from `prisma/<module>/sql/`. */
export interface Extra {
  /** Path relative to the module folder, e.g. `sql/20_search_vector.sql`. */
  file: string
  sql: string
}

/** The module's extras, in name order: the order they are appended to the baseline. */
export function readExtras(module: ModuleInfo): Extra[] {
  const dir = path.join(path.dirname(module.schemaFile), 'sql')
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => ({ file: `sql/${f}`, sql: fs.readFileSync(path.join(dir, f), 'utf8') }))
}

/** `name(argtypes)` of every function an extra creates, for the down script. */
export function functionsCreatedBy(extras: readonly Extra[]): string[] {
  const out: string[] = []
  for (const e of extras) {
    for (const m of e.sql.matchAll(/CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+("[^"]+"|[\w$]+)\s*\(([^)]*)\)/gi)) {
      out.push(`${m[1]}(${m[2].trim()})`)
    }
  }
  return out
}
