import type { Command } from 'commander'
import { rehearse, type RehearseResult, type RehearseStep, type RehearseTable } from '../../index.ts'
import { moduleProgress, plural, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION, wholeNumber } from '../options.ts'
import { outcome } from '../exit-codes.ts'

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`

/** `audit_logs 577 → 500 rows`, `users content changed`, `admin_users 5 rows (new)`. */
function tableChange(step: RehearseStep, before: readonly RehearseTable[], t: RehearseTable): string {
  if (step.created.includes(t.table)) return `${t.table} ${plural(t.rows, 'row')} (new)`
  const was = before.find((b) => b.table === t.table)
  return was && was.rows !== t.rows ? `${t.table} ${was.rows} → ${t.rows} rows` : `${t.table} content changed (${plural(t.rows, 'row')})`
}

/** `audit_logs 520 rows (577 then)`, `users content differs`, `admin_users missing`. */
function difference(step: RehearseStep, then: readonly RehearseTable[], name: string): string {
  const now = step.tables.find((t) => t.table === name)
  const was = then.find((t) => t.table === name)
  if (!now) return `${name} missing`
  if (!was) return `${name} not there then`
  return now.rows !== was.rows ? `${name} ${now.rows} rows (${was.rows} then)` : `${name} content differs (${plural(now.rows, 'row')})`
}

function stepLine(step: RehearseStep, before: readonly RehearseTable[], then: readonly RehearseTable[]): string[] {
  const what = step.action === 'copy' ? 'copy of the target' : `${step.action} ${step.migration}`
  if (!step.ok) {
    const f = step.failure!
    return [
      `   ❌ ${what}: ${f.sqlstate ? `SQLSTATE ${f.sqlstate}: ` : ''}${f.message.split('\n')[0]}${f.detail ? `; DETAIL: ${f.detail}` : ''}${f.hint ? `; HINT: ${f.hint}` : ''}`,
    ]
  }
  if (step.action === 'copy') return [`   ✔ ${what} (${step.ms} ms): ${step.tables.map((t) => `${t.table} ${plural(t.rows, 'row')}`).join(', ')}`]
  const changes = step.tables.filter((t) => t.changed).map((t) => tableChange(step, before, t))
  const lines = [`   ✔ ${what} (${step.ms} ms): ${[...changes, ...step.dropped.map((d) => `${d} dropped`)].join(', ') || 'no table changed'}`]
  if (step.differs.length) {
    const against = step.action === 'down' ? 'as before the migration' : 'as after its first apply'
    lines.push(`     ⚠️  not ${against}: ${step.differs.map((d) => difference(step, then, d)).join(', ')}`)
  }
  return lines
}

function text(rows: RehearseResult[]): string {
  return rows
    .map((r) => {
      const who = `${r.module}${r.prefix ? ` (${r.prefix})` : ''}`
      if (r.status === 'nothing-pending')
        return `✅ ${who}: nothing pending: the target has applied every migration, so there is nothing to rehearse  (${r.database})`
      const head =
        r.status === 'failed'
          ? `❌ ${who}: ${r.failure!.migration ? `${r.failure!.migration} failed at ${r.failure!.action}` : 'the copy failed'} (the target was only read)`
          : `✅ ${who}: ${plural(r.pending.length, 'pending migration')} rehearsed: applied, stepped back with down.sql, applied again`
      const lines = [`${head}  (${r.database}; copy of ${mib(r.bytes ?? 0)} in ${r.scratch}, dropped)`]
      // down is compared with the tables before the migration, reapply with those after its first apply.
      let before: RehearseTable[] = []
      let beforeApply: RehearseTable[] = []
      let afterApply: RehearseTable[] = []
      for (const s of r.steps) {
        if (s.action === 'apply') beforeApply = before
        lines.push(...stepLine(s, before, s.action === 'down' ? beforeApply : afterApply))
        if (s.action === 'apply') afterApply = s.tables
        before = s.tables
      }
      lines.push(...r.warnings.map((w) => `   ⚠️  ${w}`))
      return lines.join('\n')
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('rehearse')
    .description(
      "the pending migrations on a copy of the target's rows in a scratch database: each applied, stepped back with its down.sql and applied again, with each table's rows and content hash after every step; the target is only read (exit 1 when a step fails)",
    )
    .option(...MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option(
      '--max-bytes <bytes>',
      "the most the module's tables may take on the target (default ARTSTORE_REHEARSE_MAX_BYTES, else 1 GiB); above it the command refuses",
      wholeNumber(1, '--max-bytes 2147483648'),
    )
    .option(...JSON_OPTION)
    .action(async (opts: { module?: string; prefix?: string; maxBytes?: number; json?: boolean }) => {
      const rows = await rehearse({ module: opts.module, prefix: opts.prefix, maxBytes: opts.maxBytes, onProgress: moduleProgress(o, opts.json, 'rehearse') })
      report(o, !!opts.json, rows, text)
      setExit(outcome(rows.some((r) => r.status === 'failed')))
    })
}
