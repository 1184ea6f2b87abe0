import fs from 'node:fs'
import path from 'node:path'
import { Command, CommanderError } from 'commander'
import { connectionLost, isArtstoreError, maskSecrets, nearMissVariables, projectRoot, runInterruptCleanups } from '../index.ts'
import { EXIT, exitCodesHelp } from './exit-codes.ts'
import { muted, processOutput, type Output } from './output.ts'
import * as baselineCommand from './commands/baseline.ts'
import * as cycleCommand from './commands/cycle.ts'
import * as deployCommand from './commands/deploy.ts'
import * as infoCommand from './commands/info.ts'
import * as migrateCommand from './commands/migrate.ts'
import * as resolveCommand from './commands/resolve.ts'
import * as rollbackCommand from './commands/rollback.ts'
import * as statusCommand from './commands/status.ts'
import * as studioCommand from './commands/studio.ts'
import * as adoptCommand from './commands/adopt.ts'
import * as archiveCommand from './commands/archive.ts'
import * as cacheCommand from './commands/cache.ts'
import * as verifyCommand from './commands/verify.ts'
import * as rehearseCommand from './commands/rehearse.ts'

/**
 * Runs the artstore-db command line and returns its exit code. It is the only place that turns
 * results and errors into text and exit codes.
 */
export async function main(argv: readonly string[], o: Output = processOutput): Promise<number> {
  // Ctrl-C or a TERM: one line, and the usual codes. Each step of a command is one transaction (or
  // none), which the server rolls back when this process's connections close; nothing is left half done.
  // An embedded server the command started is stopped first (a TERM reaches this process alone).
  // Once interrupted, the command only waits for the clean-up (scratch databases dropped, the embedded
  // server stopped) and ends with the signal's code; what it still writes (the errors of connections
  // the clean-up ended) is not shown.
  let interrupted: Promise<number> | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    o.err(`error: interrupted (${signal}): the step in progress was not committed, and the server rolls it back; run the command again`)
    // From here on the command only ends: what its connections raise as their server goes away (the
    // embedded server stopped below, above all) must not turn into a stack trace and another exit code.
    process.on('uncaughtException', () => undefined).on('unhandledRejection', () => undefined)
    const code = signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated
    interrupted = runInterruptCleanups().then(() => code)
    void interrupted.then((c) => process.exit(c))
  }
  const shown = muted(o, () => !!interrupted)
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
  try {
    const code = await run(argv, shown)
    return interrupted ? await interrupted : code
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
  }
}

/** Options a command takes more than once: cache's --root (a local folder and a bucket in one run). */
const REPEATABLE: Record<string, readonly string[]> = { cache: ['--root'] }

/** The first long option that appears twice in `argv` (before a bare `--`), if any. */
export function repeatedOption(argv: readonly string[]): string | undefined {
  const seen = new Set<string>()
  const repeatable = REPEATABLE[argv[0]] ?? []
  for (const arg of argv) {
    if (arg === '--') return undefined
    if (!arg.startsWith('--')) continue
    const name = arg.split('=')[0]
    if (repeatable.includes(name)) continue
    if (seen.has(name)) return name
    seen.add(name)
  }
  return undefined
}

async function run(argv: readonly string[], o: Output): Promise<number> {
  // ARTSTORE_DOTENV=0 ignores .env (the test suite does, so that a developer's .env cannot leak in).
  const envFile = path.join(projectRoot, '.env')
  if (process.env.ARTSTORE_DOTENV !== '0' && fs.existsSync(envFile)) (await import('dotenv')).default.config({ path: envFile, quiet: true })
  // A misspelt database variable is not read: the module would quietly use another database.
  for (const { name, meant } of nearMissVariables(process.env)) {
    o.err(
      `warning: ${name} is set but artstore-db does not read it: did you mean ${meant}? (without ${meant}, its modules use the other variables or the embedded database)`,
    )
  }
  let exitCode = 0
  const setExit = (code: number) => (exitCode = code)
  const program = new Command('artstore-db')
    .description('schemas and migrations of the ArtStore databases (admin, storage-element, query)')
    .addHelpText('after', exitCodesHelp())
    .version(JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')).version, '-V, --version', 'print the version of artstore-db')
    .exitOverride()
    .configureOutput({ writeOut: (s) => o.out(s), writeErr: () => undefined })
    .showSuggestionAfterError(true)
  for (const c of [
    infoCommand,
    deployCommand,
    statusCommand,
    baselineCommand,
    migrateCommand,
    verifyCommand,
    rollbackCommand,
    resolveCommand,
    cycleCommand,
    rehearseCommand,
    studioCommand,
    adoptCommand,
    archiveCommand,
    cacheCommand,
  ])
    c.register(program, o, setExit)
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => o.out(s), writeErr: () => undefined })
    c.commands.forEach(quiet)
  }
  program.commands.forEach(quiet)

  if (argv.length === 0) {
    o.err(program.helpInformation())
    return EXIT.badInput
  }
  // Commander keeps the last of an option given twice: `--module admin --module query` would quietly act on query alone.
  const twice = repeatedOption(argv)
  if (twice) {
    o.err(`error: option ${twice} is given twice: give it once (run the command once per value) (see npx artstore-db --help)`)
    return EXIT.badInput
  }
  try {
    await program.parseAsync(argv, { from: 'user' })
    return exitCode
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return EXIT.ok // --help, --version
      o.err(`${e.message.replace(/\s*\n\s*/g, ' ')} (see npx artstore-db --help)`)
      return EXIT.badInput
    }
    const lost = connectionLost(e)
    if (lost) {
      o.err(`error: ${maskSecrets(lost.message)}`)
      return lost.exitCode
    }
    if (isArtstoreError(e)) {
      o.err(`error: ${e.message}`)
      return e.exitCode
    }
    o.err(`error: ${maskSecrets(String((e as Error)?.message ?? e))}`)
    if (process.env.ARTSTORE_DEBUG) o.err(maskSecrets(String((e as Error)?.stack)))
    // The database refused something (it carries its SQLSTATE): a failure, not ours. Anything else is.
    if (typeof (e as { code?: unknown })?.code === 'string' && /^[0-9A-Z]{5}$/.test((e as { code: string }).code)) return EXIT.checkFailed
    o.err('this is a bug in artstore-db: please report it, with the command and what it prints with ARTSTORE_DEBUG=1')
    return EXIT.bug
  }
}
