import type { Command } from 'commander'
import {
  migrateAllow,
  migrateCheck,
  migrateNew,
  type LintFinding,
  type MigrateAllowResult,
  type MigrateCheckResult,
  type MigrateNewResult,
  type NewMigration,
} from '../../index.ts'
import { moduleProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { runFleetCommand, withFleetOptions, type FleetCliOptions } from '../fleet.ts'
import { outcome } from '../exit-codes.ts'

const finding = (f: LintFinding) =>
  `   ${f.level === 'error' ? '❌' : '⚠️ '} ${f.source === 'squawk' ? `squawk ${f.rule}` : f.rule}${f.line ? ` (line ${f.line})` : ''}: ${f.message}`

/** The files of each migration of the result, as they are (or would be) written. */
function scripts(r: MigrateNewResult): string[] {
  const lines: string[] = []
  for (const m of [r as NewMigration, ...r.also]) {
    if (!m.migration) continue
    if (m.up) lines.push('', `-- ${m.files?.[0] ?? `${m.migration}/migration.sql`}`, m.up)
    if (m.down) lines.push(`-- ${m.files?.[1] ?? `${m.migration}/down.sql`}`, m.down)
  }
  return lines
}

function newText(r: MigrateNewResult, name: string, dryRun: boolean): string {
  if (r.status === 'nothing-to-migrate') return `✅ ${r.module}: nothing to migrate: the history already builds schema.prisma and sql/ (nothing written)`
  const lines: string[] = []
  const errors = r.findings.filter((f) => f.level === 'error').length
  const lint = `lint: ${errors} dangerous, ${r.findings.length - errors} warning(s)${r.allowance ? `; allowed: ${r.allowance}` : ''}`
  if (r.status === 'refused') {
    const dangerous = r.findings.some((f) => f.level === 'error')
    lines.push(
      `❌ ${r.module}: ${r.migration ?? 'the migration'} ${r.problems.length ? 'would not pass migrate check' : 'has dangerous steps'}: nothing written`,
    )
    lines.push(...r.problems.map((p) => `   ❌ ${p}`), ...r.findings.map(finding))
    if (dangerous && !r.allowance)
      lines.push(`   if they are intended, record why: npx artstore-db migrate new --module ${r.module} --name ${name} --allow-dangerous "<reason>"`)
    if (dryRun) lines.push(...scripts(r))
    else if (r.up) lines.push(`   to see the SQL it would write: the same command with --dry-run`)
    return lines.join('\n')
  }
  if (r.status === 'would-write') {
    lines.push(`📝 ${r.module}: would write ${r.files.join(' and ')} (dry run: nothing written)`, `   ${lint}`, ...r.findings.map(finding))
    lines.push(...scripts(r))
    return lines.join('\n')
  }
  if (r.up?.includes('migrate new --empty')) {
    lines.push(`✅ ${r.module}: wrote ${r.files.join(' and ')} (a data migration: nothing in it yet)`)
    lines.push('   next: write its SQL under the header of each file, then npx artstore-db migrate check; see README "Data migrations"')
    return lines.join('\n')
  }
  lines.push(`✅ ${r.module}: wrote ${r.files.join(' and ')} (down.sql checked to restore the catalog)`, `   ${lint}`, ...r.findings.map(finding))
  lines.push('   next: review the files, then npx artstore-db deploy; npx artstore-db migrate check in CI')
  return lines.join('\n')
}

function allowText(r: MigrateAllowResult): string {
  const verb = r.status === 'written' ? 'recorded in' : 'would record in (dry run: nothing written)'
  return [
    `✅ ${r.module}: allowance ${verb} ${r.file}: ${r.reason}`,
    ...r.allowed.map((a) => `   ❌ ${a}`),
    '   next: npx artstore-db migrate check (it fails again if these findings change: record them anew)',
  ].join('\n')
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
    .option(
      '--no-safe-forms',
      "Prisma's plain forms in one migration; by default, on existing tables, a new foreign key or CHECK is added NOT VALID and a SET NOT NULL through a NOT VALID check, each validated in a following <name>_validate migration",
    )
    .option('--safe-forms', 'the default, spelt out (kept for scripts that name it)')
    .option('--empty', 'a data migration: migration.sql and down.sql with only a header, for hand-written SQL (see README "Data migrations")')
    .option('--dry-run', 'work it out, lint it and print it (even when it refuses); write nothing')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        module?: string
        name: string
        prefix?: string
        allowDangerous?: string
        concurrently?: boolean
        safeForms?: boolean
        empty?: boolean
        dryRun?: boolean
        json?: boolean
      }) => {
        const r = await migrateNew(opts)
        report(o, !!opts.json, r, (x) => newText(x, opts.name, !!opts.dryRun))
        setExit(outcome(r.status === 'refused'))
      },
    )
  migrate
    .command('allow <migration>')
    .description("record in a migration's header why its dangerous steps are allowed, with the findings it allows (migrate check holds it to them)")
    .option(...ONE_MODULE_OPTION)
    .requiredOption('--reason <why>', 'why the dangerous steps are intended, in one line')
    .option(...PREFIX_OPTION)
    .option('--dry-run', 'work out the findings and print the header; write nothing')
    .option(...JSON_OPTION)
    .action(async (migration: string, opts: { module?: string; reason: string; prefix?: string; dryRun?: boolean; json?: boolean }) => {
      const r = await migrateAllow({ ...opts, migration })
      report(o, !!opts.json, r, allowText)
    })
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
