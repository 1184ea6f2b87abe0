// Shared by the cache rebuild tests: scratch attr.json trees and whole-table snapshots.
import fs from 'node:fs'
import path from 'node:path'
import type { AttrDocument } from '../../src/cache/attr.ts'
import { renderAttr, writeAttrTree, type GenerateOptions, type GeneratedAttr } from '../helpers/attr-tree.ts'
import { rebuildCache } from '../../src/cache/rebuild.ts'
import { modules } from '../../src/modules.ts'
import { query } from '../helpers/db.ts'
import { scratchRoot } from '../helpers/workdir.ts'

/** A fresh scratch folder under the tests' scratch root. */
export function scratchDir(name: string): string {
  const dir = path.join(scratchRoot, `cache-${name}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** Writes a generated tree into a fresh scratch folder; returns the folder and every file written. */
export async function scratchTree(name: string, o: GenerateOptions): Promise<{ root: string; files: GeneratedAttr[] }> {
  const root = scratchDir(name)
  const files: GeneratedAttr[] = []
  await writeAttrTree(root, o, (g) => files.push(g))
  files.sort((a, b) => a.doc.file_id.localeCompare(b.doc.file_id))
  return { root, files }
}

/** Writes one attr.json where the storage element would (or at `rel`), as given. */
export function writeAttr(root: string, doc: AttrDocument | string, rel?: string): string {
  const target = rel ?? (typeof doc === 'string' ? undefined : `${doc.storage_path}${doc.storage_filename}.attr.json`)
  if (!target) throw new Error('a raw attr.json needs a path')
  fs.mkdirSync(path.dirname(path.join(root, target)), { recursive: true })
  fs.writeFileSync(path.join(root, target), typeof doc === 'string' ? doc : renderAttr(doc))
  return target
}

/** The storage-element baseline for another prefix, as `--prefix` renders it. */
export const storageBaseline = (prefix = 'storage_elem_01') =>
  fs.readFileSync(path.join(modules['storage-element'].migrationsDir, '0_baseline', 'migration.sql'), 'utf8').replaceAll('storage_elem_01', prefix)

/** Every column of every row, search_vector and jsonb as text, in a stable order. */
export const snapshot = (url: string, table: string, order: string, where = 'true') =>
  query(url, `select t.*, t.search_vector::text as search_vector from ${table} t where ${where} order by ${order}`)

/**
 * A storage-element cache rebuilt from a fresh tree of `count` files, then made stale: some files
 * deleted since (every `goneEvery`-th from `goneAt`: --prune is to delete their rows), every row's
 * description changed. Returns the rows as the finished run leaves them (`final`), as they are now
 * (`before`), the config row, the files deleted, and `held`: the key of a row the run has to rewrite
 * (its file is there), the 1 501st in key order, which is in the second chunk of 1 000.
 */
export async function staleCache(
  url: string,
  env: Record<string, string>,
  name: string,
  o: { count: number; perHour: number; seed: number; goneEvery: number; goneAt: number },
) {
  const files = 'storage_elem_01_files'
  const tree = await scratchTree(name, { count: o.count, perHour: o.perHour, seed: o.seed, s3Share: 0 })
  const rebuilt = await rebuildCache({ module: 'storage-element', root: tree.root, env })
  if (rebuilt.rows.inserted !== o.count) throw new Error(`the first rebuild inserted ${rebuilt.rows.inserted} rows of ${o.count}`)
  const final = new Map((await snapshot(url, files, 'file_id')).map((r) => [r.file_id as string, r]))
  const gone = tree.files.filter((_, i) => i % o.goneEvery === o.goneAt)
  for (const g of gone) fs.rmSync(path.join(tree.root, g.rel))
  await query(url, `update ${files} set description = 'stale'`)
  const before = new Map((await snapshot(url, files, 'file_id')).map((r) => [r.file_id as string, r]))
  const config = await query(url, 'select * from storage_elem_01_config')
  const keys = [...final.keys()].filter((k) => !gone.some((g) => g.doc.file_id === k)).sort()
  return { tree, final, before, config, gone, held: keys[1500] }
}
