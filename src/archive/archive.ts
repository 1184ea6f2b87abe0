import fs from 'node:fs'
import path from 'node:path'
import { getModule, moduleNames, modules, type ModuleName } from '../modules.ts'
import { readDatabaseVersion, versionTableFor } from './database.ts'
import { ArchiveBusyError, ArchiveConflictError, ArchiveTamperedError, InvalidArchiveDateError, NothingToArchiveError, SourceFolderError } from './errors.ts'
import { copyVerified, fsyncDir, removeEmptyDirs, writeAtomic, writeDurable } from './fsops.ts'
import { chainEntries, countMigrations, MANIFEST_FORMAT, manifestJson, renderManifestMd, type Manifest } from './manifest.ts'
import { orderSource, scanSource, type OrderedFile, type ScannedSource, type SkippedItem, type SourceFile, type SourceKind } from './source.ts'
import { defaultArchiveRoot, displayPath, INDEX_FILE, listArchives, moduleArchiveDir, recordedPath, renderIndex, type StoredArchive } from './store.ts'
import { checkArchive } from './verify.ts'

export interface ArchiveOptions {
  module: string
  /** An Alembic versions/ folder or a Prisma migrations folder; relative paths resolve from the cwd. */
  from: string
  /** The folder that receives `<module>/archive/<date>-<source>/` and ARCHIVE.md; default the project's prisma/. */
  root?: string
  /** The archive's date, YYYY-MM-DD; default today (UTC). It names the folder, so fix it for reproducible runs. */
  date?: string
  /** Plan everything (parse, order, hash, render the manifests, read the database) and write nothing. */
  dryRun?: boolean
  /** Record the module's live Alembic version (read-only) in the manifest. */
  database?: boolean
  /** Storage element only: its table prefix, naming the version table `<prefix>_alembic_version`. */
  prefix?: string
  /** Where database URLs are read from; default process.env. */
  env?: Record<string, string | undefined>
}

export type ArchiveStatus = 'archived' | 'would-archive' | 'already-archived'

export interface ArchiveResult {
  module: ModuleName
  status: ArchiveStatus
  /** The archive folder (for already-archived: the existing one that holds these files). */
  archive: string
  from: string
  source: SourceKind
  migrations: number
  /** Each file's move, in manifest order (empty when already archived). */
  moves: { from: string; to: string; sha256: string }[]
  skipped: SkippedItem[]
  /**
   * Already archived only: byte-identical copies of archived files that were still in the source
   * folder (a run interrupted after the archive was complete) and were removed to finish that move.
   */
  leftovers: string[]
  manifest: Manifest
  manifestMd: string
  /** ARCHIVE.md, when this run rewrote it. */
  index: string | null
}

function checkDate(date: string): string {
  const valid =
    /^\d{4}-\d{2}-\d{2}$/.test(date) && !Number.isNaN(Date.parse(`${date}T00:00:00Z`)) && new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) === date
  if (!valid) throw new InvalidArchiveDateError(date)
  return date
}

/** A folder that holds an archive's manifest.json (wherever its root is). */
function isArchiveFolder(dir: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { format?: unknown }).format === MANIFEST_FORMAT
  } catch {
    return false
  }
}

/** `dir` is `parent` or inside it. */
const within = (parent: string, dir: string) => {
  const rel = path.relative(parent, dir)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

/** The real path of `p` (links resolved), or `p` itself while it does not exist. */
const real = (p: string) => (fs.existsSync(p) ? fs.realpathSync(p) : p)

/**
 * The source folder, links resolved. Never a folder inside an archive (under `root` or the project's
 * archive root, or any folder holding an archive's manifest.json, however it is reached: a link,
 * `--root` elsewhere), nor a module's live migrations folder (what deploy reads): archiving moves
 * files away.
 */
function checkSourceDir(given: string, root: string): string {
  const abs = path.resolve(given)
  if (!fs.existsSync(abs)) throw new SourceFolderError(displayPath(abs), 'no such folder', 'check the --from path')
  if (!fs.statSync(abs).isDirectory()) throw new SourceFolderError(displayPath(abs), 'not a folder', 'give --from the folder that holds the migrations')
  const dir = fs.realpathSync(abs)
  for (const r of new Set([real(root), real(defaultArchiveRoot)])) {
    const rel = path.relative(r, dir).split(path.sep)
    if (rel.length >= 2 && rel[0] !== '..' && !path.isAbsolute(path.relative(r, dir)) && rel[1] === 'archive') {
      throw new SourceFolderError(displayPath(abs), 'is inside an archive', 'archives are never archived again; give --from the live migrations folder')
    }
  }
  for (let at = dir; ; at = path.dirname(at)) {
    if (isArchiveFolder(at))
      throw new SourceFolderError(displayPath(abs), 'is inside an archive', 'archives are never archived again; give --from the live migrations folder')
    if (path.dirname(at) === at) break
  }
  const live = moduleNames.find((m) => within(real(modules[m].migrationsDir), dir))
  if (live) {
    throw new SourceFolderError(
      displayPath(abs),
      `is the ${live} module's live migrations folder`,
      'deploy reads it; archive only an old history (e.g. an Alembic versions/ folder)',
    )
  }
  return dir
}

/** The existing archive that already holds these files: byte-identical, or (for an empty source) moved from it. */
function findArchived(scan: ScannedSource, existing: readonly StoredArchive[]): StoredArchive | undefined {
  if (!scan.files.length) return existing.find((a) => a.manifest?.from === recordedPath(scan.dir))
  return existing.find((a) => a.manifest && scan.files.every((f) => a.manifest!.entries.some((e) => e.path === f.path && e.sha256 === f.sha256)))
}

function removeSources(scan: ScannedSource, files: readonly SourceFile[]): void {
  for (const f of files) fs.rmSync(f.abs, { force: true })
  for (const f of files) removeEmptyDirs(path.dirname(f.abs), scan.dir)
  fsyncDir(scan.dir)
}

/** The archive exists and verifies: report it, and finish an interrupted move by removing identical leftovers. */
function alreadyArchived(a: StoredArchive, scan: ScannedSource, dryRun: boolean): ArchiveResult {
  const check = checkArchive(a)
  if (!check.ok) {
    const p = check.problems[0]
    throw new ArchiveTamperedError(check.archive, `${p.file}: ${p.detail}`, a.module)
  }
  if (!dryRun) removeSources(scan, scan.files)
  const m = a.manifest!
  return {
    module: a.module,
    status: 'already-archived',
    archive: check.archive,
    from: displayPath(scan.dir),
    source: m.source,
    migrations: m.migrations,
    moves: [],
    skipped: scan.skipped,
    leftovers: scan.files.map((f) => f.path),
    manifest: m,
    manifestMd: renderManifestMd(m),
    index: null,
  }
}

/** The first file that tells the planned archive and an existing one of the same name apart. */
function firstDifference(existing: StoredArchive, files: readonly OrderedFile[]): string {
  const entries = existing.manifest?.entries
  if (!entries) return `its manifest: ${existing.manifestError}`
  for (const f of files) {
    const e = entries.find((x) => x.path === f.path)
    if (!e) return `${f.path} is not in it`
    if (e.sha256 !== f.sha256) return `${f.path} differs`
  }
  const extra = entries.find((e) => !files.some((f) => f.path === e.path))
  return extra ? `${extra.path} is only in the archive` : 'same files, another order'
}

/**
 * Copies every file into a hidden staging folder (each fsynced and read back against its sha256),
 * adds the manifests, renames the folder into place, and only then removes the sources. An
 * interruption before the rename leaves the sources untouched and a staging folder the next run
 * discards; after it, the next run finds the archive complete and removes the leftovers.
 */
function execute(dir: string, m: Manifest, md: string, files: readonly OrderedFile[], scan: ScannedSource): void {
  const staging = path.join(path.dirname(dir), `.${path.basename(dir)}.partial`)
  fs.rmSync(staging, { recursive: true, force: true })
  for (const f of files) copyVerified(f.abs, path.join(staging, ...f.path.split('/')), f.sha256)
  writeDurable(path.join(staging, 'manifest.json'), manifestJson(m))
  writeDurable(path.join(staging, 'MANIFEST.md'), md)
  for (const sub of new Set(files.map((f) => path.dirname(path.join(staging, ...f.path.split('/')))))) fsyncDir(sub)
  fsyncDir(staging)
  fs.renameSync(staging, dir)
  fsyncDir(path.dirname(dir))
  removeSources(scan, files)
}

/** Rewrites ARCHIVE.md from the manifests on disk; returns its path as shown. */
export function writeIndex(root: string): string {
  const file = path.join(root, INDEX_FILE)
  writeAtomic(file, renderIndex(listArchives(root)))
  return displayPath(file)
}

/** Runs `fn` (a step that moves or removes files) holding the module's archive lock. */
function locked<T>(root: string, module: ModuleName, fn: () => T): T {
  const release = takeArchiveLock(root, module)
  try {
    return fn()
  } finally {
    release()
  }
}

/**
 * One archive run per module at a time: a lock file `<root>/<module>/archive/.lock` holding the
 * run's pid, created exclusively. A lock whose process is gone (killed) is taken over.
 */
function takeArchiveLock(root: string, module: ModuleName): () => void {
  const file = path.join(moduleArchiveDir(root, module), '.lock')
  fs.mkdirSync(path.dirname(file), { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' })
      return () => fs.rmSync(file, { force: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const pid = Number(fs.readFileSync(file, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) throw new ArchiveBusyError(module, pid, displayPath(file))
      fs.rmSync(file, { force: true }) // its run was killed
    }
  }
  throw new ArchiveBusyError(module, 0, displayPath(file))
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * `archive`: moves a module's old migration history into `<root>/<module>/archive/<date>-<source>/`
 * with MANIFEST.md and manifest.json, then rewrites `<root>/ARCHIVE.md`. Idempotent: files already
 * archived byte-exact give `already-archived` and change nothing. Refuses (ArchiveConflictError)
 * when an archive of the same name holds other files. With `dryRun`, returns the same plan unwritten.
 */
export async function archive(opts: ArchiveOptions): Promise<ArchiveResult> {
  const module = getModule(opts.module).name
  const date = checkDate(opts.date ?? new Date().toISOString().slice(0, 10))
  const versionTable = versionTableFor(module, opts.prefix)
  const root = path.resolve(opts.root ?? defaultArchiveRoot)
  const scan = scanSource(checkSourceDir(opts.from, root))
  const existing = listArchives(root, [module])
  const done = findArchived(scan, existing)
  if (done) return opts.dryRun ? alreadyArchived(done, scan, true) : locked(root, module, () => alreadyArchived(done, scan, false))
  if (!scan.kind) throw new NothingToArchiveError(displayPath(scan.dir))

  const files = orderSource(scan)
  const name = `${date}-${scan.kind}`
  const dir = path.join(moduleArchiveDir(root, module), name)
  const clash = existing.find((a) => a.name === name)
  if (clash) throw new ArchiveConflictError(displayPath(dir), firstDifference(clash, files), module)

  const { entries, sum } = chainEntries(module, files)
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    module,
    source: scan.kind,
    name,
    archivedOn: date,
    from: recordedPath(scan.dir),
    migrations: countMigrations(entries),
    entries,
    skipped: scan.skipped,
    sum,
  }
  if (opts.database) {
    const chain = [...new Set(entries.map((e) => e.revision).filter((r): r is string => r !== null))]
    manifest.database = await readDatabaseVersion(module, versionTable, chain, opts.env)
  }
  const manifestMd = renderManifestMd(manifest)
  const result: ArchiveResult = {
    module,
    status: opts.dryRun ? 'would-archive' : 'archived',
    archive: displayPath(dir),
    from: displayPath(scan.dir),
    source: scan.kind,
    migrations: manifest.migrations,
    skipped: scan.skipped,
    leftovers: [],
    manifest,
    manifestMd,
    index: null,
    moves: files.map((f) => ({ from: displayPath(f.abs), to: displayPath(path.join(dir, ...f.path.split('/'))), sha256: f.sha256 })),
  }
  if (opts.dryRun) return result
  return locked(root, module, () => {
    // Planned before the lock: another run may have archived the same files meanwhile.
    if (fs.existsSync(dir)) throw new ArchiveConflictError(displayPath(dir), 'another run wrote it a moment ago', module)
    execute(dir, manifest, manifestMd, files, scan)
    return { ...result, index: writeIndex(root) }
  })
}
