/**
 * Named errors of artstore-db. Each message is one line that names the thing that is wrong and
 * ends with the next step; `exitCode` follows the CLI contract (see README "Exit codes"):
 * 1 = a check failed, 2 = bad input or configuration.
 */
export class ArtstoreError extends Error {
  readonly exitCode: 1 | 2 = 2
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
}

export class UnknownModuleError extends ArtstoreError {
  constructor(given: string, known: readonly string[]) {
    super(`unknown module "${given}": use one of ${known.join(', ')} (e.g. --module ${known[0]})`)
  }
}

export class InvalidUrlError extends ArtstoreError {
  constructor(variable: string, reason: string) {
    super(`${variable} is not a valid PostgreSQL URL (${reason}): set it like postgresql://user:password@host:5432/database`)
  }
}

export class DatabaseUnreachableError extends ArtstoreError {
  constructor(where: string, variable: string) {
    super(`cannot reach the database server at ${where}: start it, or fix the host and port in ${variable}`)
  }
}

export class AuthenticationError extends ArtstoreError {
  constructor(user: string, where: string, variable: string) {
    super(`password authentication failed for user "${user}" at ${where}: fix the user or password in ${variable}`)
  }
}

export class DatabaseMissingError extends ArtstoreError {
  constructor(database: string, where: string, variable: string) {
    super(`database "${database}" does not exist at ${where}: create it (createdb ${database}) or point ${variable} at an existing one`)
  }
}

export class EmbeddedPostgresError extends ArtstoreError {
  constructor(reason: string) {
    super(`the embedded PostgreSQL could not start (${reason}): set DATABASE_URL to use a server of your own`)
  }
}

export class EngineMismatchError extends ArtstoreError {
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
export class ConnectionLostError extends ArtstoreError {
  override readonly exitCode = 1 as const
  constructor(reason: string) {
    super(
      `the connection to the database was lost (${reason}): what the command had not committed was rolled back by the server; run it again once the server answers`,
    )
  }
}

/** A query of the command went unanswered for ARTSTORE_QUERY_TIMEOUT (a frozen server, a cut network). */
export class QueryTimeoutError extends ArtstoreError {
  override readonly exitCode = 1 as const
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
export class ModuleRequiredError extends ArtstoreError {
  constructor(what: string, hint = '') {
    super(`${what}: add --module admin, storage-element or query${hint}`)
  }
}

/** A command that changes data was given neither --yes nor --dry-run. */
export class ConfirmationRequiredError extends ArtstoreError {
  constructor(what: string, dryRunShows: string, yesDoes = 'confirm') {
    super(`${what}: add --yes to ${yesDoes}, or --dry-run to ${dryRunShows}`)
  }
}

/** An option given for a module it does not apply to. */
export class OptionForOtherModuleError extends ArtstoreError {
  constructor(option: string, module: string, owner: string, fix = `drop ${option}`) {
    super(`${option} applies to the ${owner} module, not ${module}: ${fix}`)
  }
}
