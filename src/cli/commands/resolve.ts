import type { Command } from 'commander'
import { resolve, type ResolveResult } from '../../index.ts'
import { report, type Output } from '../output.ts'
import { JSON_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { EXIT } from '../exit-codes.ts'

function text(r: ResolveResult): string {
  const what = {
    'rolled-back': 'rolled back: the next deploy runs it again',
    applied: 'applied: the next deploy goes on after it',
    unapplied: 'unapplied (its history row removed): the next deploy runs it again',
  }[r.action]
  return `${r.status === 'resolved' ? '✅' : '📝'} ${r.module}: ${r.migration} ${r.status === 'resolved' ? 'marked' : 'would be marked'} ${what}  (${r.database})`
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('resolve')
    .description(
      'settle a failed migration of one module (prisma migrate resolve), once the database has been put right by hand; or unmark an applied one whose changes are not there',
    )
    .option(...ONE_MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option('--rolled-back <migration>', 'its changes were undone: deploy runs it again')
    .option('--applied <migration>', 'it was completed by hand: deploy goes on after it')
    .option('--unapplied <migration>', 'the newest applied migration, its changes not in the database: remove its history row, deploy runs it again')
    .option('--yes', 'confirm --unapplied')
    .option('--dry-run', 'check that there is such a migration to settle, change nothing')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        module?: string
        prefix?: string
        rolledBack?: string
        applied?: string
        unapplied?: string
        yes?: boolean
        dryRun?: boolean
        json?: boolean
      }) => {
        report(o, !!opts.json, await resolve(opts), text)
        setExit(EXIT.ok)
      },
    )
}
