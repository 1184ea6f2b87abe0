import type { Command } from 'commander'
import { describeBlockers, resolve, type ResolveResult } from '../../index.ts'
import { lockProgress, report, type Output } from '../output.ts'
import { JSON_OPTION, ONE_MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { EXIT } from '../exit-codes.ts'

function text(r: ResolveResult): string {
  const what = {
    'rolled-back': 'rolled back: the next deploy runs it again',
    applied: 'applied: the next deploy goes on after it',
    unapplied: 'unapplied (its history row removed): the next deploy runs it again',
  }[r.action]
  const head = `${r.status === 'resolved' ? '✅' : '📝'} ${r.module}: ${r.migration} ${r.status === 'resolved' ? 'marked' : 'would be marked'} ${what}  (${r.database})`
  if (!r.lockWaits) return head
  const w = r.lockWaits
  return `${head}\n   waited for locks: ${w.timedOut} ${w.timedOut === 1 ? 'try' : 'tries'} ran out of lock_timeout, blocked by ${describeBlockers(w.blockers)}`
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
    .option('--lock-timeout <duration>', '--unapplied: longest wait of one try for a lock (e.g. 500ms, 2s; default ARTSTORE_LOCK_TIMEOUT, else 500ms)')
    .option('--lock-retry-for <duration>', '--unapplied: how long it may keep trying for its locks (e.g. 30s, 10m; default ARTSTORE_LOCK_RETRY_FOR, else 3m)')
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
        lockTimeout?: string
        lockRetryFor?: string
      }) => {
        report(o, !!opts.json, await resolve({ ...opts, onLockWait: lockProgress(o, opts.json) }), text)
        setExit(EXIT.ok)
      },
    )
}
