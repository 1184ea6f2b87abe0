import type { Command } from 'commander'
import { archive, verifyArchives, type ArchiveResult, type ArchiveVerifyReport, type DatabaseVersionRecord } from '../../index.ts'
import { plural, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION } from '../options.ts'
import { EXIT, outcome } from '../exit-codes.ts'

const archiveExitCodes = `
Exit codes:
  0  archived, already archived (nothing changed), or --dry-run
  1  an existing archive no longer matches its manifest (run archive verify)
  2  bad input: unknown module, unreadable revision, several heads, missing parent, cycle, an archive of
     the same name with other files, bad --date or --prefix; one line on stderr, nothing was changed`

const verifyExitCodes = `
Exit codes:
  0  every archive matches its manifest
  1  a file differs, is missing or extra, or a manifest's hash chain does not hold
  2  bad input (unknown module, or --module names a module without an archive)`

function databaseLine(d: DatabaseVersionRecord): string {
  const where = `${d.pgSchema}.${d.versionTable}`
  if (!d.tableFound) return `   database: ${where} does not exist`
  if (!d.versions.length) return `   database: ${where} is empty`
  return d.versions
    .map((v) => `   database: ${where} = ${v.revision} — ${v.inChain ? `position ${v.position} in the archived chain` : 'NOT in the archived chain'}`)
    .join('\n')
}

function archiveText(r: ArchiveResult): string {
  const what = `${plural(r.migrations, 'migration')} (${r.source})`
  if (r.status === 'already-archived') {
    const left = r.leftovers.length ? `; removed ${r.leftovers.length} identical copies an interrupted run left in ${r.from}` : '; nothing changed'
    return `✅ ${r.module}: already archived in ${r.archive}, ${what}${left}`
  }
  const lines = [`${r.status === 'archived' ? '📦' : '📝'} ${r.module}: ${r.status === 'archived' ? 'archived' : 'would archive'} ${what} into ${r.archive}`]
  for (const m of r.moves) lines.push(`   ${r.status === 'archived' ? 'moved' : 'move'} ${m.from} → ${m.to}`)
  for (const s of r.skipped) lines.push(`   left in place: ${s.path} (${s.reason})`)
  if (r.manifest.database) lines.push(databaseLine(r.manifest.database))
  if (r.index) lines.push(`   index: ${r.index}`)
  if (r.status === 'would-archive') lines.push('', 'MANIFEST.md would be:', '', r.manifestMd.trimEnd().replace(/^/gm, '    '))
  return lines.join('\n')
}

function verifyText(r: ArchiveVerifyReport): string {
  if (!r.archives.length) return 'no archives to verify'
  const lines = r.archives.map((a) => {
    if (a.ok) return `✅ ${a.module}  ${a.archive}: ${plural(a.files, 'file')}, ${plural(a.migrations, 'migration')}, chain sum ${a.sum?.slice(0, 16)}…`
    const [first, ...more] = a.problems
    const rest = more.length ? ` (+${more.length} more)` : ''
    return `❌ ${a.module}  ${a.archive}: ${first.file}: ${first.detail}${rest} → restore the archive from version control; archived files never change`
  })
  if (r.index)
    lines.push(
      r.index.ok ? `✅ ${r.index.path} matches the manifests` : `❌ ${r.index.path}: ${r.index.detail} → run archive again for any module to rewrite it`,
    )
  return lines.join('\n')
}

type ArchiveFlags = { module?: string; from?: string; database?: boolean; prefix?: string; date?: string; root?: string; dryRun?: boolean; json?: boolean }
type VerifyFlags = { module?: string; root?: string; json?: boolean }

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  const cmd = program
    .command('archive')
    .description("move a module's old migration history into prisma/<module>/archive/<date>-<source>/ with a verifiable manifest")
    // Not requiredOption: commander checks a parent's mandatory options for its subcommands too,
    // which would make `archive verify` demand --from.
    .option('--module <module>', 'required: admin, storage-element or query')
    .option('--from <dir>', 'required: an Alembic versions/ folder (*.py) or a Prisma migrations folder')
    .option('--database', "record the module's live Alembic version (read-only) in the manifest")
    .option('--prefix <prefix>', 'storage-element only: table prefix of <prefix>_alembic_version (default storage_elem_01)')
    .option('--date <YYYY-MM-DD>', 'date that names the archive folder (default: today, UTC)')
    .option('--root <dir>', "folder that receives <module>/archive/ and ARCHIVE.md (default: the project's prisma/)")
    .option('--dry-run', 'show the moves and the manifest, write nothing')
    .option(...JSON_OPTION)
    .addHelpText('after', archiveExitCodes)
    .action(async (opts: ArchiveFlags) => {
      for (const [flag, value] of [
        ['--module <module>', opts.module],
        ['--from <dir>', opts.from],
      ] as const) {
        if (value === undefined) cmd.error(`error: required option '${flag}' not specified`, { code: 'commander.missingMandatoryOptionValue' })
      }
      const r = await archive({ ...opts, module: opts.module!, from: opts.from!, database: !!opts.database, dryRun: !!opts.dryRun })
      report(o, !!opts.json, r, archiveText)
      setExit(EXIT.ok)
    })

  const verifyCmd = cmd
    .command('verify')
    .description("recompute every archived file's sha256 and each manifest's hash chain (exit 1 naming the first file that differs)")
    .option(...MODULE_OPTION)
    .option('--root <dir>', "folder that holds <module>/archive/ and ARCHIVE.md (default: the project's prisma/)")
    .option(...JSON_OPTION)
    .addHelpText('after', verifyExitCodes)
    .exitOverride()
    .configureOutput({ writeOut: (s) => o.out(s), writeErr: () => undefined })
    .action(async (own: VerifyFlags) => {
      // The program does not use positional options, so `archive` parses the flags that follow
      // `verify` when it knows them too (--module, --root, --json): read them from either level.
      const parent = cmd.opts<ArchiveFlags>()
      for (const flag of ['--from', '--database', '--prefix', '--date', '--dry-run'] as const) {
        const key = flag === '--dry-run' ? 'dryRun' : (flag.slice(2) as keyof ArchiveFlags)
        if (parent[key] !== undefined) verifyCmd.error(`error: unknown option '${flag}' for archive verify`, { code: 'commander.unknownOption' })
      }
      const opts = { module: own.module ?? parent.module, root: own.root ?? parent.root, json: own.json ?? parent.json }
      const r = await verifyArchives(opts)
      report(o, !!opts.json, r, verifyText)
      setExit(outcome(!r.ok))
    })
}
