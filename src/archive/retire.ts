import fs from 'node:fs'
import path from 'node:path'
import type { ModuleName } from '../modules.ts'
import { manifestJson, renderManifestMd, type RetiredVersionRecord } from './manifest.ts'
import { defaultArchiveRoot, listArchives } from './store.ts'

/**
 * Records a retired Alembic version table in the module's newest Alembic archive (manifest.json and
 * MANIFEST.md together, so `archive verify` stays clean). Returns the archive folder, or undefined when
 * the module has no Alembic archive.
 */
export function recordRetiredVersion(module: ModuleName, record: RetiredVersionRecord, root = defaultArchiveRoot): string | undefined {
  const archive = listArchives(root, [module])
    .filter((a) => a.manifest?.source === 'alembic')
    .at(-1)
  if (!archive?.manifest) return undefined
  const m = archive.manifest
  m.retired = [...(m.retired ?? []), record]
  fs.writeFileSync(path.join(archive.dir, 'manifest.json'), manifestJson(m))
  fs.writeFileSync(path.join(archive.dir, 'MANIFEST.md'), renderManifestMd(m))
  return archive.dir
}
