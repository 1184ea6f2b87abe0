import fs from 'node:fs'
import path from 'node:path'
import { isArtstoreError } from '../errors.ts'
import { getModule, moduleNames, type ModuleName } from '../modules.ts'
import { NoArchiveError } from './errors.ts'
import { chainNext, chainSeed, MANIFEST_FORMAT, renderManifestMd, type Manifest } from './manifest.ts'
import { orderSource, scanSource, sha256Hex } from './source.ts'
import { defaultArchiveRoot, displayPath, INDEX_FILE, listArchives, MANIFEST_FILES, renderIndex, type StoredArchive } from './store.ts'

export type VerifyProblemKind = 'manifest' | 'missing' | 'differs' | 'extra' | 'chain' | 'order' | 'manifest-md'

/** One way an archive differs from its manifest, naming the file. */
export interface VerifyProblem {
  kind: VerifyProblemKind
  file: string
  detail: string
}

export interface ArchiveCheck {
  module: ModuleName
  name: string
  /** The archive folder, as reports show it. */
  archive: string
  ok: boolean
  files: number
  migrations: number
  sum: string | null
  /** In the order found: the first one names the first file that differs. */
  problems: VerifyProblem[]
}

export interface ArchiveVerifyReport {
  ok: boolean
  archives: ArchiveCheck[]
  /** ARCHIVE.md against the manifests on disk; checked only when every module is verified. */
  index: { path: string; ok: boolean; detail?: string } | null
}

export interface ArchiveVerifyOptions {
  /** One module, or every module when omitted. */
  module?: string
  /** The folder that holds `<module>/archive/` and ARCHIVE.md; default the project's prisma/. */
  root?: string
}

/** Every file under `dir`, relative, with `/`. */
function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((d) => {
    const p = rel ? `${rel}/${d.name}` : d.name
    return d.isDirectory() ? walk(dir, p) : [p]
  })
}

/** Each listed file against the disk, and each entry's chain hash against its predecessor's. */
function checkEntries(dir: string, module: string, m: Manifest, problems: VerifyProblem[]): void {
  let chain = chainSeed(module)
  m.entries.forEach((e, i) => {
    chain = chainNext(chain, e.path, e.sha256)
    if (e.order !== i + 1 || e.chain !== chain) {
      problems.push({ kind: 'chain', file: e.path, detail: `manifest entry ${i + 1} was edited, removed or reordered (its chain hash does not follow)` })
    }
    const abs = path.resolve(dir, ...e.path.split('/'))
    if (!abs.startsWith(dir + path.sep)) problems.push({ kind: 'manifest', file: e.path, detail: 'path leaves the archive folder' })
    else if (!fs.existsSync(abs)) problems.push({ kind: 'missing', file: e.path, detail: 'listed in the manifest, missing on disk' })
    else {
      const bytes = fs.readFileSync(abs)
      const sha = sha256Hex(bytes)
      if (sha !== e.sha256 || bytes.length !== e.size) {
        problems.push({
          kind: 'differs',
          file: e.path,
          detail: `content differs from the manifest (sha256 ${sha.slice(0, 12)}…, ${bytes.length} bytes; expected ${e.sha256.slice(0, 12)}…, ${e.size} bytes)`,
        })
      }
    }
  })
  if (m.sum !== chain) problems.push({ kind: 'chain', file: 'manifest.json', detail: 'the chain sum does not match the entries' })
  const listed = new Set<string>([...m.entries.map((e) => e.path), ...MANIFEST_FILES])
  for (const f of walk(dir).sort()) if (!listed.has(f)) problems.push({ kind: 'extra', file: f, detail: 'on disk, not in the manifest' })
}

/** Re-reads the archived files as a source and checks the manifest's order and revisions follow from them. */
function checkOrder(dir: string, m: Manifest, problems: VerifyProblem[]): void {
  try {
    const scan = scanSource(dir, MANIFEST_FILES)
    const derived = orderSource(scan)
    if (scan.kind !== m.source) throw new Error(`the files are ${scan.kind ?? 'no history'}, the manifest says ${m.source}`)
    const i = derived.findIndex(
      (d, k) =>
        d.path !== m.entries[k]?.path ||
        d.revision !== m.entries[k].revision ||
        d.downRevisions.join(',') !== m.entries[k].downRevisions.join(',') ||
        JSON.stringify(d.branchLabels) !== JSON.stringify(m.entries[k].branchLabels) ||
        JSON.stringify(d.dependsOn) !== JSON.stringify(m.entries[k].dependsOn) ||
        d.createDate !== m.entries[k].createDate ||
        d.message !== m.entries[k].message,
    )
    if (i >= 0) {
      const e = m.entries[i]
      const detail =
        e && e.path === derived[i].path && e.revision === derived[i].revision && e.downRevisions.join(',') === derived[i].downRevisions.join(',')
          ? `position ${i + 1}: its branch labels, dependencies, date or message in the manifest are not the file's`
          : `position ${i + 1}: the revision chain puts ${derived[i].path} (${derived[i].revision}) here`
      problems.push({ kind: 'order', file: e?.path ?? derived[i].path, detail })
    }
  } catch (e) {
    const detail = isArtstoreError(e) || e instanceof Error ? e.message : String(e)
    problems.push({ kind: 'order', file: 'manifest.json', detail: `the archived files do not form the listed chain: ${detail}` })
  }
}

const MANIFEST_KEYS = ['format', 'module', 'source', 'name', 'archivedOn', 'from', 'migrations', 'entries', 'skipped', 'sum', 'database', 'retired']
const ENTRY_KEYS = ['order', 'path', 'size', 'sha256', 'revision', 'downRevisions', 'branchLabels', 'dependsOn', 'createDate', 'message', 'chain']

/** What the chain does not cover: the format, the folder name, and fields the format does not have. */
function checkFields(a: StoredArchive, m: Manifest, problems: VerifyProblem[]): void {
  const bad = (detail: string) => problems.push({ kind: 'manifest', file: 'manifest.json', detail })
  if (m.format !== MANIFEST_FORMAT) bad(`format ${JSON.stringify(m.format)} is not ${MANIFEST_FORMAT}`)
  if (m.name !== a.name) bad(`name ${JSON.stringify(m.name)} is not the archive folder's, ${a.name}`)
  for (const k of Object.keys(m)) if (!MANIFEST_KEYS.includes(k)) bad(`field ${JSON.stringify(k)} is not part of the manifest format`)
  m.entries.forEach((e, i) => {
    for (const k of Object.keys(e)) if (!ENTRY_KEYS.includes(k)) bad(`entry ${i + 1}: field ${JSON.stringify(k)} is not part of the manifest format`)
  })
}

/** Recomputes every hash and the chain of one archive, and checks MANIFEST.md still renders from it. */
export function checkArchive(a: StoredArchive): ArchiveCheck {
  const problems: VerifyProblem[] = []
  const m = a.manifest
  if (!m) problems.push({ kind: 'manifest', file: 'manifest.json', detail: a.manifestError ?? 'unreadable' })
  else {
    if (m.module !== a.module) problems.push({ kind: 'manifest', file: 'manifest.json', detail: `written for module ${m.module}, found under ${a.module}` })
    checkFields(a, m, problems)
    checkEntries(a.dir, a.module, m, problems)
    if (!problems.length) checkOrder(a.dir, m, problems)
    const md = path.join(a.dir, 'MANIFEST.md')
    if (!fs.existsSync(md) || fs.readFileSync(md, 'utf8') !== renderManifestMd(m)) {
      problems.push({ kind: 'manifest-md', file: 'MANIFEST.md', detail: 'missing, or does not match manifest.json' })
    }
  }
  return {
    module: a.module,
    name: a.name,
    archive: displayPath(a.dir),
    ok: problems.length === 0,
    files: m?.entries.length ?? 0,
    migrations: m?.migrations ?? 0,
    sum: m?.sum ?? null,
    problems,
  }
}

/**
 * `archive verify`: every archive of the selected modules, file by file. Read-only. Throws
 * NoArchiveError when a named module has no archive; with no module and no archives it reports none.
 */
export function verifyArchives(opts: ArchiveVerifyOptions = {}): ArchiveVerifyReport {
  const root = path.resolve(opts.root ?? defaultArchiveRoot)
  const modules = opts.module === undefined ? moduleNames : [getModule(opts.module).name]
  const stored = listArchives(root, modules)
  if (opts.module !== undefined && !stored.length) throw new NoArchiveError(opts.module, displayPath(root))
  const archives = stored.map(checkArchive)
  let index: ArchiveVerifyReport['index'] = null
  if (opts.module === undefined && stored.length) {
    const file = path.join(root, INDEX_FILE)
    const same = fs.existsSync(file) && fs.readFileSync(file, 'utf8') === renderIndex(stored)
    index = same ? { path: displayPath(file), ok: true } : { path: displayPath(file), ok: false, detail: 'missing, or out of date with the manifests' }
  }
  return { ok: archives.every((a) => a.ok) && (index?.ok ?? true), archives, index }
}
