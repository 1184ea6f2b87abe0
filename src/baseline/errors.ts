import { EnvironmentError, FailureError, RefusalError, UsageError } from '../errors.ts'

export class SchemaInvalidError extends UsageError {
  readonly schemaFile: string
  readonly detail: string
  constructor(schemaFile: string, detail: string, next = 'npx artstore-db baseline') {
    super(`${schemaFile} is not a valid Prisma schema: ${detail}: fix it, then run ${next}`)
    this.schemaFile = schemaFile
    this.detail = detail
  }

  /** The same complaint, naming the command that met it (migrate new, migrate check) as the one to run again. */
  static rerun(next: string): (e: unknown) => never {
    return (e) => {
      throw e instanceof SchemaInvalidError ? new SchemaInvalidError(e.schemaFile, e.detail, next) : e
    }
  }
}

export class BaselineGenerationError extends FailureError {
  constructor(module: string, detail: string) {
    super(
      `could not generate the ${module} baseline (${detail}): check prisma/${module}/schema.prisma and its sql/ extras, then run npx artstore-db baseline --module ${module} again`,
    )
  }
}

export class BaselineFrozenError extends RefusalError {
  constructor(module: string, later: readonly string[]) {
    super(
      `the ${module} module has migrations after 0_baseline (${later.join(', ')}), so its baseline stays as deployed: put schema changes in the next migration with npx artstore-db migrate new --module ${module} --name <change>`,
    )
  }
}

export class BaselineMissingError extends EnvironmentError {
  constructor(module: string) {
    super(`the ${module} module has no committed baseline: run npx artstore-db baseline --module ${module}`)
  }
}
