import type { SingleBar } from 'cli-progress'
import { checkCache, InstancesFileError, rebuildCache, type CacheCheckResult, type CacheRebuildResult, type Progress } from '../../index.ts'
import type { Command } from 'commander'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { lockProgress, plural, report, type Output } from '../output.ts'
import { PREFIX_OPTION } from '../options.ts'
import { EXIT, outcome } from '../exit-codes.ts'

/** A file name as one report line: control characters (a newline in a name could forge a line) escaped as in JSON. */
const printable = (text: string) =>
  text.replace(/[\u0000-\u001f\u007f]/g, (ch) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)

const rebuildExitCodes = `
Exit codes:
  0  every attr.json was good; the cache is rebuilt (with --dry-run: would be, nothing was changed)
  1  a bucket listing still failed after its retries (nothing was changed), or the database refused
     a write, or a chunk could not get its rows within ARTSTORE_LOCK_RETRY_FOR (the sessions holding
     them are named): the chunks written before stay, each row as its file says, nothing was pruned
     (one line on stderr, with the count)
  2  bad input: unknown module or one without a cache, missing or bad --root, bad --prefix, missing
     --storage-element-id or --storage-element-url for query, unreachable database, cache tables not
     deployed, --prune on a root that holds no attr.json at all; for an s3:// root, a missing
     STORAGE_S3_* variable, an unknown bucket, refused credentials or an unreachable endpoint; one line
     on stderr, nothing was changed
  3  rebuilt, but some files were skipped (bad or duplicated attr.json, unlistable folders): each is
     listed with its path and reason, and kept out of the cache; --prune never deletes their rows`

function text(r: CacheRebuildResult): string {
  const verb = r.status === 'rebuilt' ? 'rebuilt' : 'would rebuild'
  const icon = r.status === 'would-rebuild' ? '📝' : r.files.skipped ? '⚠️' : '✅'
  const whose = r.storageElementId ? ` (storage element ${r.storageElementId})` : ''
  const w = r.status === 'rebuilt' ? '' : 'would be '
  const lines = [
    `${icon} ${r.module}: ${verb} ${r.table}${whose} from ${r.root}  (${r.database})`,
    `   files: ${plural(r.files.found, 'attr.json file')} found, ${r.files.good} good, ${r.files.skipped} skipped`,
    `   rows: ${w}${r.rows.inserted} inserted, ${r.rows.updated} updated, ${r.rows.unchanged} unchanged, ` +
      (r.prune === 'off' ? 'no --prune' : r.prune === 'refused' ? 'prune refused (a folder could not be listed)' : `${r.rows.pruned} pruned`),
  ]
  if (r.config)
    lines.push(
      `   config: total_files ${r.config.totalFiles}, total_size_bytes ${r.config.totalSizeBytes}, last_cache_rebuild ${r.config.lastCacheRebuild}${r.config.created ? ' (row created)' : ''}`,
    )
  if (r.wal) lines.push(`   wal: cache_rebuild ${r.wal.transactionId} ${r.wal.status}`)
  if (r.gone) lines.push(`   gone: ${plural(r.gone, 'object')} deleted after the listing (as if never listed)`)
  if (r.superseded?.length) {
    lines.push(`   superseded ${plural(r.superseded.length, 'file')} (the same file_id in another root, updated later):`)
    for (const s of r.superseded) lines.push(`     ${printable(s.path)}: ${printable(s.reason)}`)
  }
  if (r.trimmed.length) {
    lines.push(`   trimmed ${plural(r.trimmed.length, 'file')}:`)
    for (const t of r.trimmed) lines.push(`     ${printable(t.path)}: ${t.notes.join('; ')}`)
  }
  if (r.skipped.length) {
    lines.push(`   skipped ${plural(r.skipped.length, 'file')}:`)
    for (const s of r.skipped) lines.push(`     ${printable(s.path)}: ${printable(s.reason)}`)
  }
  return lines.join('\n')
}

/** Repeatable: a local folder and the bucket in one run (the same file id in both: the one updated later is cached). */
const ROOT_OPTION = [
  '--root <dir>',
  "required: the storage element's base folder (holds YYYY/MM/DD/HH/), or s3://<bucket>/<app folder> (STORAGE_S3_* variables); repeatable",
  (v: string, prev: string[] = []) => [...prev, v],
] as const

const BAR_WIDTH = 30

/** A progress bar on stderr, drawn from the library's progress callback. */
async function progressBar(): Promise<{ onProgress: (p: Progress) => void; stop: () => void }> {
  const { default: cliProgress } = await import('cli-progress')
  const bar: SingleBar = new cliProgress.SingleBar({
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    fps: 5,
    format: (_o, params, payload: { phase?: string; skipped?: number; listed?: number }) => {
      const skipped = payload.skipped ? `, ${payload.skipped} skipped` : ''
      const listed = payload.listed ? `${payload.listed} listed, ` : ''
      if (payload.phase !== 'write') return `reading attr.json  ${listed}${params.value} read${skipped}`
      const full = Math.round(params.progress * BAR_WIDTH)
      return `writing the cache  ${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)} ${params.value}/${params.total} rows${skipped}`
    },
  })
  bar.start(0, 0, { phase: 'read', skipped: 0 })
  return {
    onProgress: (p) => {
      if (p.phase === 'write') bar.setTotal(p.totalRows ?? 0)
      bar.update(p.phase === 'write' ? (p.rows ?? 0) : p.files, { phase: p.phase, skipped: p.skipped, listed: p.listed })
    },
    stop: () => bar.stop(),
  }
}

type RebuildFlags = FleetCliOptions & {
  module?: string
  root?: string[]
  prefix?: string
  storageElementId?: string
  storageElementUrl?: string
  prune?: boolean
  dryRun?: boolean
  json?: boolean
}

const checkExitCodes = `
Exit codes:
  0  consistent: every row has its file and says what it says, no file lacks a row, none expired
  1  inconsistent: each difference is listed (rows without a file, files without a row, differing
     columns, expired rows, files that could not be read or checked)
  2  bad input, as for cache rebuild; one line on stderr`

/** At most this many lines of each kind in text output; --json lists everything. */
const SHOWN = 20

function checkText(r: CacheCheckResult): string {
  const whose = r.storageElementId ? ` (storage element ${r.storageElementId})` : ''
  const lines = [
    `${r.status === 'consistent' ? '✅' : '❌'} ${r.module}: ${r.table}${whose} is ${r.status} with ${r.root}  (${r.database})`,
    `   files: ${plural(r.files.found, 'attr.json file')} found, ${r.files.good} good, ${r.files.skipped} skipped; ${plural(r.rows, 'row')}`,
  ]
  const list = <T>(title: string, items: readonly T[], line: (x: T) => string) => {
    if (!items.length) return
    lines.push(`   ${title}: ${items.length}`)
    for (const x of items.slice(0, SHOWN)) lines.push(`     ${printable(line(x))}`)
    if (items.length > SHOWN) lines.push(`     … and ${items.length - SHOWN} more (--json lists them all)`)
  }
  list('rows without a file', r.rowsWithoutFile, (x) => `${x.key} ${x.storageFilename}`)
  list('files without a row', r.filesWithoutRow, (x) => `${x.path} (${x.key})`)
  list('rows that differ from their file', r.differing, (x) => `${x.path}: ${x.columns.join(', ')}`)
  if (r.ttl) list('expired rows', r.expired, (x) => `${x.key} expired ${x.expiredAt}`)
  else lines.push('   expiry: not checked (the table has no cache_updated_at and cache_ttl_hours)')
  list('skipped files', r.skipped, (x) => `${x.path}: ${x.reason}`)
  list('superseded files', r.superseded ?? [], (x) => `${x.path}: ${x.reason}`)
  return lines.join('\n')
}

type CheckFlags = FleetCliOptions & { module?: string; root?: string[]; prefix?: string; storageElementId?: string; json?: boolean }

function registerCheck(cmd: Command, o: Output, setExit: (code: number) => void) {
  const check = withFleetOptions(cmd.command('check'))
    .description('compare a file-metadata cache with its attr.json files (read-only): missing, extra, differing and expired rows')
    .option('--module <module>', 'required: storage-element (<prefix>_files) or query (file_metadata_cache)')
    .option(...ROOT_OPTION)
    .option(...PREFIX_OPTION)
    .option('--storage-element-id <id>', 'query, required: the storage element whose rows are compared with these files')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', checkExitCodes)
    .exitOverride()
    .configureOutput({ writeOut: (s) => o.out(s), writeErr: () => undefined })
    .action(async (opts: CheckFlags) => {
      if (opts.module === undefined) check.error("error: required option '--module <module>' not specified", { code: 'commander.missingMandatoryOptionValue' })
      if (opts.instances) {
        const s3 = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('STORAGE_S3_')))
        return runFleetCommand(
          o,
          setExit,
          opts,
          async (i, base) => {
            if (!i.root) throw new InstancesFileError(opts.instances!, `instance ${i.name} has no "root" (its attr.json folder)`)
            if (opts.module === 'query') return checkCache({ module: 'query', root: i.root, storageElementId: i.elementId ?? i.name })
            return checkCache({ ...base, root: i.root, env: { ...s3, ...base.env } })
          },
          (r) => r.status === 'consistent',
          (r) =>
            `${r.status}: ${r.files.found} files, ${r.rows} rows, ${r.rowsWithoutFile.length} without a file, ${r.filesWithoutRow.length} files without a row, ${r.differing.length} differing, ${r.expired.length} expired, ${r.files.skipped} skipped`,
          ['storage-element', 'query'],
        )
      }
      const r = await checkCache({ ...opts, module: opts.module! })
      report(o, !!opts.json, r, checkText)
      setExit(outcome(r.status !== 'consistent'))
    })
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  const cmd = program.command('cache').description('file-metadata caches (storage element, query) rebuilt from the attr.json files')
  // With --instances: each storage element's cache from its "root" (query: its rows, as "elementId" with "elementUrl").
  const rebuild = withFleetOptions(cmd.command('rebuild'))
    .description('rebuild a file-metadata cache from <root>/YYYY/MM/DD/HH/[.attrs/]*.attr.json: bad files are reported and skipped')
    .option('--module <module>', 'required: storage-element (<prefix>_files, _config, _wal) or query (file_metadata_cache)')
    .option(...ROOT_OPTION)
    .option(...PREFIX_OPTION)
    .option('--storage-element-id <id>', "query, required: the storage element whose rows are rebuilt; no other element's rows are touched")
    .option('--storage-element-url <url>', 'query, required: its URL, stored with each row')
    .option('--prune', 'also delete cache rows whose attr.json no longer exists (never the row of a file that exists but is bad)')
    .option('--dry-run', 'read, validate and stage everything, report what would change, change nothing')
    .option('--json', 'print the report as JSON (no progress bar)')
    .addHelpText('after', rebuildExitCodes)
    .exitOverride()
    .configureOutput({ writeOut: (s) => o.out(s), writeErr: () => undefined })
    .action(async (opts: RebuildFlags) => {
      if (opts.module === undefined)
        rebuild.error("error: required option '--module <module>' not specified", { code: 'commander.missingMandatoryOptionValue' })
      if (opts.instances) {
        const query = opts.module === 'query'
        return runFleetCommand(
          o,
          setExit,
          opts,
          async (i, base) => {
            if (!i.root) throw new InstancesFileError(opts.instances!, `instance ${i.name} has no "root" (its attr.json folder)`)
            const common = { root: i.root, prune: !!opts.prune, dryRun: !!opts.dryRun }
            // The instance's database, and the S3 settings of this environment for an s3:// root.
            const s3 = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('STORAGE_S3_')))
            if (!query) return rebuildCache({ ...base, ...common, env: { ...s3, ...base.env } })
            if (!i.elementUrl) throw new InstancesFileError(opts.instances!, `instance ${i.name} has no "elementUrl" (the query cache stores it with each row)`)
            return rebuildCache({ module: 'query', storageElementId: i.elementId ?? i.name, storageElementUrl: i.elementUrl, ...common })
          },
          (r) => r.status === 'rebuilt' || r.status === 'would-rebuild',
          (r) =>
            `${r.status}: ${r.files.found} files, ${r.rows.inserted} inserted, ${r.rows.updated} updated, ${r.rows.pruned} pruned, ${r.files.skipped} skipped`,
          ['storage-element', 'query'],
        )
      }
      // Only on a terminal, and never in JSON mode: the bar would garble what scripts read.
      const bar = !opts.json && process.stdout.isTTY ? await progressBar() : undefined
      let r: CacheRebuildResult
      try {
        r = await rebuildCache({
          ...opts,
          module: opts.module!,
          prune: !!opts.prune,
          dryRun: !!opts.dryRun,
          onProgress: bar?.onProgress,
          onLockWait: lockProgress(o, opts.json),
        })
      } finally {
        bar?.stop()
      }
      report(o, !!opts.json, r, text)
      setExit(r.files.skipped ? EXIT.rebuiltWithSkips : EXIT.ok)
    })
  registerCheck(cmd, o, setExit)
}
