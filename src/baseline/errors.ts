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
