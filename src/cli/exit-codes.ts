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
