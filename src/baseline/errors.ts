import { ArtstoreError } from '../errors.ts'

export class SchemaInvalidError extends ArtstoreError {
  constructor(schemaFile: string, detail: string) {
    super(`${schemaFile} is not a valid Prisma schema: ${detail}: fix it, then run npx artstore-db baseline`)
  }
}

export class BaselineGenerationError extends ArtstoreError {
  override readonly exitCode = 1 as const
  constructor(module: string, detail: string) {
    super(`could not generate the ${module} baseline: ${detail}`)
  }
}

export class BaselineFrozenError extends ArtstoreError {
  constructor(module: string, later: readonly string[]) {
    super(
      `the ${module} module has migrations after 0_baseline (${later.join(', ')}), so its baseline stays as deployed: put schema changes in the next migration with npx artstore-db migrate new --module ${module} --name <change>`,
    )
  }
}

export class BaselineMissingError extends ArtstoreError {
  constructor(module: string) {
    super(`the ${module} module has no committed baseline: run npx artstore-db baseline --module ${module}`)
  }
}
