/**
 * Named errors of artstore-db. Each message is one line that names the thing that is wrong and ends
 * with the next step. Every error belongs to one of four families, and its exit code follows from the
 * family (README "Exit codes"): nothing was changed by any of them but a failure, which says what.
 */
export type ErrorKind = 'usage' | 'environment' | 'refused' | 'failed'

/** usage, environment and refused: exit 2 (bad input or configuration, nothing changed); failed: exit 1. */
export const EXIT_OF_KIND: Readonly<Record<ErrorKind, 1 | 2>> = { usage: 2, environment: 2, refused: 2, failed: 1 }

export abstract class ArtstoreError extends Error {
  abstract readonly kind: ErrorKind
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
  get exitCode(): 1 | 2 {
    return EXIT_OF_KIND[this.kind]
  }
}

/** What was given is wrong: an option, a name, a value, a file. The fix is to give something else. */
export abstract class UsageError extends ArtstoreError {
  readonly kind = 'usage'
}

/** What the command needs around it is missing or wrong: a server, a database, a table, a program, a port. */
export abstract class EnvironmentError extends ArtstoreError {
  readonly kind = 'environment'
}

/** The state of the database or the files forbids the step (frozen, held, blocked, busy): nothing was changed. */
export abstract class RefusalError extends ArtstoreError {
  readonly kind = 'refused'
}

/** The work was tried and did not succeed (a generation, a check, a connection): what was not committed was rolled back. */
export abstract class FailureError extends ArtstoreError {
  readonly kind = 'failed'
}

export class UnknownModuleError extends UsageError {
  constructor(given: string, known: readonly string[]) {
    super(`unknown module "${given}": use one of ${known.join(', ')} (e.g. --module ${known[0]})`)
  }
}

export class InvalidUrlError extends UsageError {
  constructor(variable: string, reason: string) {
    super(`${variable} is not a valid PostgreSQL URL (${reason}): set it like postgresql://user:password@host:5432/database`)
  }
}

export class DatabaseUnreachableError extends EnvironmentError {
  constructor(where: string, variable: string) {
    super(`cannot reach the database server at ${where}: start it, or fix the host and port in ${variable}`)
  }
}

export class AuthenticationError extends EnvironmentError {
  constructor(user: string, where: string, variable: string) {
    super(`password authentication failed for user "${user}" at ${where}: fix the user or password in ${variable}`)
  }
}

export class DatabaseMissingError extends EnvironmentError {
  constructor(database: string, where: string, variable: string) {
    super(`database "${database}" does not exist at ${where}: create it (createdb ${database}) or point ${variable} at an existing one`)
  }
}

export class EmbeddedPostgresError extends EnvironmentError {
  constructor(reason: string) {
    super(`the embedded PostgreSQL could not start (${reason}): set DATABASE_URL to use a server of your own`)
  }
}

export class EngineMismatchError extends EnvironmentError {
  constructor(wasm: string, glue: string, missing: readonly string[]) {
    super(
      `schema engine mismatch: ${wasm} needs imports that ${glue} lacks (${missing.slice(0, 5).join(', ')}${
        missing.length > 5 ? ', …' : ''
      }): pin the @prisma/schema-engine-wasm version from package.json and run npm ci`,
    )
  }
}

export const isArtstoreError = (e: unknown): e is ArtstoreError => e instanceof ArtstoreError

/** The server ended the command's connection (a terminated backend, a restart, a network cut). */
export class ConnectionLostError extends FailureError {
  constructor(reason: string) {
    super(
      `the connection to the database was lost (${reason}): what the command had not committed was rolled back by the server; run it again once the server answers`,
    )
  }
}

/** A query of the command went unanswered for ARTSTORE_QUERY_TIMEOUT (a frozen server, a cut network). */
export class QueryTimeoutError extends FailureError {
  constructor() {
    super(
      'the database did not answer a query in time (ARTSTORE_QUERY_TIMEOUT, seconds): check that the server runs and answers; what the command had not committed is rolled back when its session ends',
    )
  }
}

/** The error as a ConnectionLostError when it is a lost connection, else undefined. */
export function connectionLost(e: unknown): ArtstoreError | undefined {
  const err = e as { code?: string; message?: string }
  const message = String(err?.message ?? '')
  if (/Query read timeout/.test(message)) return new QueryTimeoutError()
  if (err?.code === '57P01' || err?.code === '57P02' || err?.code === '57P03') return new ConnectionLostError(message.split('\n')[0])
  if (/Connection terminated|ECONNRESET|server closed the connection|Client has encountered a connection error/.test(message))
    return new ConnectionLostError(message.split('\n')[0])
  return undefined
}

// The refusals several commands share, one class per kind, each message naming the fix.

/** A command that acts on exactly one module was given none. */
export class ModuleRequiredError extends UsageError {
  constructor(what: string, hint = '') {
    super(`${what}: add --module admin, storage-element or query${hint}`)
  }
}

/** A command that changes data was given neither --yes nor --dry-run. */
export class ConfirmationRequiredError extends UsageError {
  constructor(what: string, dryRunShows: string, yesDoes = 'confirm') {
    super(`${what}: add --yes to ${yesDoes}, or --dry-run to ${dryRunShows}`)
  }
}

/** An option given for a module it does not apply to. */
export class OptionForOtherModuleError extends UsageError {
  constructor(option: string, module: string, owner: string, fix = `drop ${option}`) {
    super(`${option} applies to the ${owner} module, not ${module}: ${fix}`)
  }
}

/** adopt without --yes or --dry-run. */
export const adoptConfirmation = () => new ConfirmationRequiredError('adopt changes the database in place', 'see the plan and its proof', 'apply')

/** rollback without --yes or --dry-run. */
export const rollbackConfirmation = (module: string) =>
  new ConfirmationRequiredError(`rollback reverts migrations of the ${module} module (the whole history drops every table, with its data)`, 'see the SQL')
