import type { Command } from 'commander'
import { migrateCheck, migrateNew, type LintFinding, type MigrateCheckResult, type MigrateNewResult, type NewMigration } from '../../index.ts'
import { moduleProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { outcome } from '../exit-codes.ts'

const finding = (f: LintFinding) =>
  `   ${f.level === 'error' ? '❌' : '⚠️ '} ${f.source === 'squawk' ? `squawk ${f.rule}` : f.rule}${f.line ? ` (line ${f.line})` : ''}: ${f.message}`

function newText(r: MigrateNewResult, name: string): string {
  if (r.status === 'nothing-to-migrate') return `✅ ${r.module}: nothing to migrate: the history already builds schema.prisma and sql/ (nothing written)`
  const lines: string[] = []
  const errors = r.findings.filter((f) => f.level === 'error').length
  const lint = `lint: ${errors} dangerous, ${r.findings.length - errors} warning(s)${r.allowance ? `; allowed: ${r.allowance}` : ''}`
  if (r.status === 'refused') {
    lines.push(`❌ ${r.module}: ${r.migration} has dangerous steps: nothing written`, ...r.findings.map(finding))
    lines.push(`   if they are intended, record why: npx artstore-db migrate new --module ${r.module} --name ${name} --allow-dangerous "<reason>"`)
    return lines.join('\n')
  }
  if (r.status === 'would-write') {
    lines.push(`📝 ${r.module}: would write ${r.files.join(' and ')} (dry run: nothing written)`, `   ${lint}`, ...r.findings.map(finding))
    for (const m of [r as NewMigration, ...r.also]) lines.push('', `-- ${m.files[0]}`, m.up, `-- ${m.files[1]}`, m.down)
    return lines.join('\n')
  }
  lines.push(`✅ ${r.module}: wrote ${r.files.join(' and ')} (down.sql checked to restore the catalog)`, `   ${lint}`, ...r.findings.map(finding))
  lines.push('   next: review the files, then npx artstore-db deploy; npx artstore-db migrate check in CI')
  return lines.join('\n')
}

function checkText(results: MigrateCheckResult[]): string {
  return results
    .map((r) => {
      const head = `${r.ok ? '✅' : '❌'} ${r.module}${r.prefix ? ` (${r.prefix})` : ''}: ${r.ok ? `${r.migrations.length} migration(s) check out` : `${r.problems.length} problem(s)`}`
      const problems = r.problems.map((p) => `   ❌ ${p}`)
      const warnings = r.warnings.map((w) => `   ⚠️  ${w}`)
      return [head, ...problems, ...warnings].join('\n')
    })
    .join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  const migrate = program.command('migrate').description('the migrations after the baseline: write the next one, check the history')
  migrate
    .command('new')
    .description('write the next migration (migration.sql and a checked down.sql) from the committed history to schema.prisma and sql/')
    .option(...ONE_MODULE_OPTION)
    .requiredOption('--name <name>', 'what it does, in snake_case (e.g. add_priority)')
    .option(...PREFIX_OPTION)
    .option('--allow-dangerous <reason>', 'write it although it has dangerous steps (lost data), recording this reason in migration.sql')
    .option(
      '--concurrently',
      'build each new index on an existing table with CREATE INDEX CONCURRENTLY, in a migration of its own (no write lock on a live table)',
    )
    .option('--dry-run', 'work it out, lint it and print it; write nothing')
    .option(...JSON_OPTION)
    .action(
      async (opts: { module?: string; name: string; prefix?: string; allowDangerous?: string; concurrently?: boolean; dryRun?: boolean; json?: boolean }) => {
        const r = await migrateNew(opts)
        report(o, !!opts.json, r, (x) => newText(x, opts.name))
        setExit(outcome(r.status === 'refused'))
      },
    )
  withFleetOptions(
    migrate
      .command('check')
      .description(
        'for CI: the history replays to schema.prisma and sql/, every later migration has a down.sql that restores the catalog and lints clean, 0_baseline is unchanged',
      )
      .option(...MODULE_OPTION)
      .option(...PREFIX_OPTION)
      .option(...JSON_OPTION),
  ).action(async (opts: { module?: string; prefix?: string; json?: boolean } & FleetCliOptions) => {
    if (opts.instances) {
      return runFleetCommand(
        o,
        setExit,
        opts,
        async (_, base) => (await migrateCheck(base))[0],
        (r) => r.ok,
        (r) => (r.ok ? `${r.migrations.length} migration(s) check out` : `${r.problems.length} problem(s): ${r.problems[0]}`),
      )
    }
    const results = await migrateCheck({ ...opts, onProgress: moduleProgress(o, opts.json, 'check history of') })
    report(o, !!opts.json, results, checkText)
    setExit(outcome(!results.every((r) => r.ok)))
  })
}
