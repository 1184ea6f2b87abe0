/**
 * The Wasm engine reports a failed statement as a bare "external connector error": the driver's
 * error code and text are lost on the way through the adapter. The bridge keeps the last database
 * error here and puts it back into the engine's message, in the native engine's words.
 */
export interface DatabaseError {
  code: string
  /** As psql prints it: `ERROR: relation "x" does not exist`. */
  text: string
  /** The parts of it: the message alone, and the DETAIL and HINT the database gave. */
  message?: string
  detail?: string
  hint?: string
}

let last: DatabaseError | undefined

export function recordDatabaseError(e: unknown): void {
  const pgError = e as { code?: string; message?: string; severity?: string; detail?: string; hint?: string }
  if (typeof pgError?.code !== 'string' || !pgError.message) return
  const detail = pgError.detail ? `\nDETAIL: ${pgError.detail}` : ''
  last = {
    code: pgError.code,
    text: `${pgError.severity ?? 'ERROR'}: ${pgError.message}${detail}`,
    message: pgError.message,
    ...(pgError.detail ? { detail: pgError.detail } : {}),
    ...(pgError.hint ? { hint: pgError.hint } : {}),
  }
}

/** Returns the last recorded error and forgets it, so that it is never attached to a later failure. */
export function takeDatabaseError(): DatabaseError | undefined {
  const e = last
  last = undefined
  return e
}

const CONNECTOR_ERROR = 'external connector error'

/**
 * Rewrites an engine error that lost its database error: a failed migration becomes P3018 with the
 * migration name and the database error, like the native engine; any other gets the error appended.
 */
export function restoreDatabaseError(
  message: string,
  code: string | undefined,
  dbError: DatabaseError | undefined,
): { message: string; code?: string; meta?: Record<string, string> } {
  if (!dbError || !message.includes(CONNECTOR_ERROR)) return { message, code }
  const details = `Database error code: ${dbError.code}\n\nDatabase error:\n${dbError.text}\n`
  const migration = /apply_script\s+with migration_name="([^"]+)"/.exec(message)?.[1]
  if (!code && migration) {
    return {
      code: 'P3018',
      message:
        'A migration failed to apply. New migrations cannot be applied before the error is recovered from. ' +
        'Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\n' +
        `Migration name: ${migration}\n\n${details}`,
      meta: {
        migration_name: migration,
        database_error_code: dbError.code,
        database_error: dbError.text,
        ...(dbError.message ? { database_error_message: dbError.message } : {}),
        ...(dbError.detail ? { database_error_detail: dbError.detail } : {}),
        ...(dbError.hint ? { database_error_hint: dbError.hint } : {}),
      },
    }
  }
  return { code, message: message.replace(CONNECTOR_ERROR, `${CONNECTOR_ERROR}\n${details}`) }
}
