import type { ModuleName } from '../modules.ts'
import { sha256Hex, type OrderedFile, type SkippedItem, type SourceKind } from './source.ts'

/** Written into every manifest.json; part of the chain seed, so a format change cannot verify silently. */
export const MANIFEST_FORMAT = 'artstore-archive/1'

/** One archived file. `chain` covers the previous entry's chain and this entry's path and sha256. */
export interface ManifestEntry {
  order: number
  path: string
  size: number
  sha256: string
  revision: string | null
  downRevisions: string[]
  branchLabels: string[]
  dependsOn: string[]
  createDate: string | null
  message: string | null
  chain: string
}

/** The live database's Alembic version, as read with --database. */
export interface DatabaseVersionRecord {
  /** The PostgreSQL schema searched (the module's schema, from its URL). */
  pgSchema: string
  /** `alembic_version`, or `<prefix>_alembic_version` for the storage element. */
  versionTable: string
  /** False when the version table does not exist in that schema. */
  tableFound: boolean
  /** One row per head stamped in the table; `position` is 1-based in the archived chain. */
  versions: { revision: string; inChain: boolean; position: number | null }[]
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT
  module: ModuleName
  source: SourceKind
  /** The archive folder's name: `<archivedOn>-<source>`. */
  name: string
  archivedOn: string
  /** The folder the files were moved from, relative to the project root (never an absolute path). */
  from: string
  migrations: number
  entries: ManifestEntry[]
  /** Entries of the source folder that were left where they are. */
  skipped: SkippedItem[]
  /** The last entry's chain hash: one value that changes with any edit, removal or reordering. */
  sum: string
  database?: DatabaseVersionRecord
  /** Alembic version tables that `adopt` retired, with the revision each held. */
  retired?: RetiredVersionRecord[]
}

/** An Alembic version table dropped by `adopt`, once the database was proved to match the baseline. */
export interface RetiredVersionRecord {
  pgSchema: string
  versionTable: string
  revisions: string[]
  /** `old-chain` or `reset`: which Alembic generation stamped it. */
  generation: string
  adoptedAt: string
}

/** The chain starts from the format and the module, so a manifest cannot be moved to another module. */
export const chainSeed = (module: string) => sha256Hex(`${MANIFEST_FORMAT}\n${module}\n`)
export const chainNext = (previous: string, path: string, sha256: string) => sha256Hex(`${previous}\n${path}\n${sha256}\n`)

/** Numbers the files and links each to the one before; returns the entries and the final sum. */
export function chainEntries(module: string, files: readonly OrderedFile[]): { entries: ManifestEntry[]; sum: string } {
  let chain = chainSeed(module)
  const entries = files.map((f, i): ManifestEntry => {
    chain = chainNext(chain, f.path, f.sha256)
    return {
      order: i + 1,
      path: f.path,
      size: f.size,
      sha256: f.sha256,
      revision: f.revision,
      downRevisions: f.downRevisions,
      branchLabels: f.branchLabels,
      dependsOn: f.dependsOn,
      createDate: f.createDate,
      message: f.message,
      chain,
    }
  })
  return { entries, sum: chain }
}

export const countMigrations = (entries: readonly Pick<ManifestEntry, 'revision'>[]) => new Set(entries.map((e) => e.revision).filter((r) => r !== null)).size

/** The manifest's bytes on disk: stable key order, two-space indent, final newline. */
export const manifestJson = (m: Manifest) => `${JSON.stringify(m, null, 2)}\n`

/** Module titles as the original migration summary used them. */
export const moduleTitle: Record<ModuleName, string> = {
  admin: 'Admin Module',
  'storage-element': 'Storage Element',
  query: 'Query Module',
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
const cell = (s: string | null) => (s ? s.replace(/\|/g, '\\|') : '–')
const code = (s: string) => `\`${s}\``

function migrationRows(m: Manifest): string[] {
  const seen = new Set<string>()
  const rows: string[] = []
  for (const e of m.entries) {
    if (e.revision === null || seen.has(e.revision)) continue
    seen.add(e.revision)
    const files = m.entries.filter((x) => x.revision === e.revision).map((x) => code(x.path))
    const parents = e.downRevisions.length ? e.downRevisions.map(code).join(', ') : '– (root)'
    rows.push(`| ${seen.size} | ${code(e.revision)} | ${parents} | ${cell(e.createDate)} | ${cell(e.message)} | ${files.join('<br>')} |`)
  }
  return rows
}

function databaseLines(d: DatabaseVersionRecord, total: number): string[] {
  const where = `\`${d.pgSchema}.${d.versionTable}\``
  if (!d.tableFound) return [`${where} does not exist: the database was never stamped by Alembic.`]
  if (!d.versions.length) return [`${where} is empty: no revision is stamped.`]
  return d.versions.map((v) =>
    v.inChain
      ? `${where} holds ${code(v.revision)}: in the archived chain, position ${v.position} of ${total}${v.position === total ? ' (the head)' : ''}.`
      : `${where} holds ${code(v.revision)}: **not** in the archived chain.`,
  )
}

/** MANIFEST.md: the same facts as manifest.json, for people. Rendered from the manifest alone. */
export function renderManifestMd(m: Manifest): string {
  const lines = [
    `# ${moduleTitle[m.module]} — archived ${m.source === 'alembic' ? 'Alembic' : 'Prisma'} history (${m.archivedOn})`,
    '',
    `Module \`${m.module}\`: ${plural(m.migrations, 'migration')} in chain order, ${plural(m.entries.length, 'file')}, moved byte-exact from \`${m.from}\`.`,
    `Chain sum (sha256): \`${m.sum}\`. Check with \`npx artstore-db archive verify --module ${m.module}\`.`,
    '',
    `## ${moduleTitle[m.module]} (${plural(m.migrations, 'migration')})`,
    '',
    '| # | revision | revises | created | message | file |',
    '| --- | --- | --- | --- | --- | --- |',
    ...migrationRows(m),
    '',
    '## Files',
    '',
    '| # | file | bytes | sha256 |',
    '| --- | --- | --- | --- |',
    ...m.entries.map((e) => `| ${e.order} | ${code(e.path)} | ${e.size} | \`${e.sha256}\` |`),
  ]
  if (m.skipped.length) lines.push('', '## Left in the source folder', '', ...m.skipped.map((s) => `- ${code(s.path)}: ${s.reason}`))
  if (m.database) lines.push('', '## Live database', '', ...databaseLines(m.database, m.migrations))
  if (m.retired?.length) {
    lines.push('', '## Retired by adoption', '')
    for (const r of m.retired) {
      lines.push(
        `- \`${r.pgSchema}.${r.versionTable}\` held ${r.revisions.map(code).join(', ')} (${r.generation}); dropped on ${r.adoptedAt} after the database was proved to match the baseline.`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}
