/** Every exit code of the command line, in one place (README "Exit codes", and `--help`). */
export const EXIT = {
  ok: 0,
  /** A check failed: a migration failed; status found pending, failed or modified migrations; verify found a ❌; … */
  checkFailed: 1,
  /** Bad input or configuration; nothing was changed. */
  badInput: 2,
  /** cache rebuild only: rebuilt, but some attr.json files were skipped. */
  rebuiltWithSkips: 3,
  /** An error nobody foresaw: a bug in artstore-db (EX_SOFTWARE). */
  bug: 70,
  /** Ended by Ctrl-C (SIGINT) or TERM. */
  interrupted: 130,
  terminated: 143,
} as const

/** The code of a command's outcome: ok, or a failed check. */
export const outcome = (failed: boolean): number => (failed ? EXIT.checkFailed : EXIT.ok)

/**
 * What each exit code means, as the README's "Exit codes" table says it (a unit test keeps the two
 * equal); `--help` prints it too.
 */
export const EXIT_MEANINGS: readonly (readonly [codes: string, meaning: string])[] = [
  ['0', 'done; for `status`, every module is up to date'],
  [
    '1',
    'a check failed: a migration, or a `down.sql` of `rollback`, failed; `status` found pending, failed or modified migrations; `verify` found a ❌ (an empty database included); `baseline --check` found a difference; `migrate check` found a problem; `migrate new` refused dangerous steps or a migration `migrate check` would reject (nothing written); a `cycle` or `rehearse` step failed; `archive verify` found a changed, missing or extra file',
  ],
  [
    '2',
    "bad input or configuration: unknown module or option, malformed URL, unreachable server, wrong password, missing database, a URL that points at another module's database, a schema that fails validation, a bad prefix, `rollback` without `--yes` or a range (or with `--steps` past `0_baseline`), or of a migration without `down.sql`, `baseline` over a frozen baseline, a migration name that is not snake_case, `rehearse` of tables larger than its bound, a role that may not create a scratch database, `deploy` refused by the rewrite guard (one line per statement on stdout, the migration still pending). One line on stderr names the thing and the fix; nothing was changed",
  ],
  ['3', '`cache rebuild` only: rebuilt, but some attr.json files were skipped (each listed with its reason)'],
  [
    '70',
    'an error nobody foresaw: a bug in artstore-db; a second line asks to report it (with `ARTSTORE_DEBUG=1` for the stack). An error the database raised (it carries its SQL state) is a failure, exit 1',
  ],
  ['130, 143', 'ended by Ctrl-C or TERM; the step in progress was not committed'],
]

/** The exit codes for `--help`: the README's table as plain text, wrapped. */
export function exitCodesHelp(width = 100): string {
  const lines = ['', 'Exit codes:']
  for (const [codes, meaning] of EXIT_MEANINGS) {
    const words = meaning.replaceAll('`', '').split(' ')
    let line = `  ${codes.padEnd(9)}`
    for (const w of words) {
      if (line.length + w.length + 1 > width && line.trim().length > codes.length) {
        lines.push(line.trimEnd())
        line = ' '.repeat(11)
      }
      line += `${w} `
    }
    lines.push(line.trimEnd())
  }
  return lines.join('\n')
}
