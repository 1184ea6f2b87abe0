import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseAlembicRevision } from './alembic.ts'
import { orderChain } from './chain.ts'
import { MixedSourceError } from './errors.ts'

/**
 * The kind of history a folder holds; it names the archive folder (`<date>-alembic`, `<date>-prisma`).
 * `alembic`: an Alembic `versions/` folder of `*.py` revision files. `prisma`: a Prisma migrations
 * folder (`<name>/migration.sql` subfolders and `migration_lock.toml`).
 */
export type SourceKind = 'alembic' | 'prisma'

/** One file to archive, with its path relative to the folder (always with `/`). */
export interface SourceFile {
  path: string
  abs: string
  size: number
  sha256: string
}

/** Something left where it is, and why. */
export interface SkippedItem {
  path: string
  reason: string
}

export interface ScannedSource {
  dir: string
  /** null when the folder holds no migration files at all. */
  kind: SourceKind | null
  files: SourceFile[]
  skipped: SkippedItem[]
}

/** A file in archive order, with the revision it belongs to (null for e.g. migration_lock.toml). */
export interface OrderedFile extends SourceFile {
  revision: string | null
  downRevisions: string[]
  branchLabels: string[]
  dependsOn: string[]
  createDate: string | null
  message: string | null
}

export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

function fileFacts(dir: string, rel: string): SourceFile {
  const abs = path.join(dir, ...rel.split('/'))
  const bytes = fs.readFileSync(abs)
  return { path: rel, abs, size: bytes.length, sha256: sha256Hex(bytes) }
}

/** Every file under `dir/rel`, as paths relative to `dir`, sorted. */
function filesUnder(dir: string, rel: string): string[] {
  return fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? filesUnder(dir, `${rel}/${d.name}`) : [`${rel}/${d.name}`]))
    .sort()
}

const isRevisionFile = (d: fs.Dirent) => d.isFile() && d.name.endsWith('.py') && d.name !== '__init__.py'
const isPrismaMigration = (dir: string, d: fs.Dirent) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql'))

function skipReason(d: fs.Dirent, kind: SourceKind | null): string {
  if (d.name === '__init__.py') return 'package marker, not a revision'
  if (d.name === '__pycache__') return 'Python bytecode cache'
  if (d.isDirectory()) return kind === 'prisma' ? 'folder without migration.sql' : 'subfolder, not a revision file'
  return kind === 'prisma' ? 'not part of a Prisma migration' : 'not a revision file (*.py)'
}

/**
 * Lists what a folder holds: which kind of history, the files that belong to it (hashed), and the
 * entries that stay behind. `ignore` names top-level entries to pass over silently (an archive's
 * own manifests). Throws MixedSourceError when both kinds are present.
 */
export function scanSource(dir: string, ignore: readonly string[] = []): ScannedSource {
  const entries = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => !ignore.includes(d.name))
    .sort((a, b) => a.name.localeCompare(b.name))
  const alembic = entries.some(isRevisionFile)
  const prisma = entries.some((d) => isPrismaMigration(dir, d) || (d.isFile() && d.name === 'migration_lock.toml'))
  if (alembic && prisma) throw new MixedSourceError(dir)
  const kind: SourceKind | null = alembic ? 'alembic' : prisma ? 'prisma' : null
  const files: SourceFile[] = []
  const skipped: SkippedItem[] = []
  for (const d of entries) {
    if (kind === 'alembic' && isRevisionFile(d)) files.push(fileFacts(dir, d.name))
    else if (kind === 'prisma' && d.isFile() && d.name === 'migration_lock.toml') files.push(fileFacts(dir, d.name))
    else if (kind === 'prisma' && isPrismaMigration(dir, d)) files.push(...filesUnder(dir, d.name).map((f) => fileFacts(dir, f)))
    else skipped.push({ path: d.isDirectory() ? `${d.name}/` : d.name, reason: skipReason(d, kind) })
  }
  return { dir, kind, files, skipped }
}

function orderAlembic(files: readonly SourceFile[]): OrderedFile[] {
  const nodes = files.map((f) => ({ ...f, file: f.path, ...parseAlembicRevision(fs.readFileSync(f.abs, 'utf8'), f.path) }))
  return orderChain(nodes).map(({ file: _file, ...f }) => f)
}

/** Prisma applies migrations by folder name; a `YYYYMMDDHHMMSS_` prefix is their creation time. */
function orderPrisma(files: readonly SourceFile[]): OrderedFile[] {
  const folders = [...new Set(files.filter((f) => f.path.includes('/')).map((f) => f.path.split('/')[0]))].sort()
  const out: OrderedFile[] = []
  folders.forEach((name, i) => {
    const ts = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_/.exec(name)
    const meta = {
      revision: name,
      downRevisions: i ? [folders[i - 1]] : [],
      branchLabels: [],
      dependsOn: [],
      createDate: ts ? `${ts[1]}-${ts[2]}-${ts[3]} ${ts[4]}:${ts[5]}:${ts[6]}` : null,
      message: name.replace(/^\d+_/, ''),
    }
    for (const f of files.filter((x) => x.path.startsWith(`${name}/`))) out.push({ ...f, ...meta })
  })
  const rest = files.filter((f) => !f.path.includes('/'))
  for (const f of rest) out.push({ ...f, revision: null, downRevisions: [], branchLabels: [], dependsOn: [], createDate: null, message: null })
  return out
}

/**
 * The scanned files in archive order: Alembic revisions parents first (by the revision graph, not by
 * file name), Prisma migrations by folder name with migration_lock.toml last. Throws the chain's
 * named errors (several heads, missing parent, cycle) and AlembicParseError.
 */
export function orderSource(scan: ScannedSource): OrderedFile[] {
  if (scan.kind === 'alembic') return orderAlembic(scan.files)
  if (scan.kind === 'prisma') return orderPrisma(scan.files)
  return []
}
