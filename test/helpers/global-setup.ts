import type { TestProject } from 'vitest/node'
import { parsePgUrl } from '../../src/config/urls.ts'
import { startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL whose user may create databases: TEST_DATABASE_URL, or the embedded PostgreSQL 17. */
    baseUrl: string
  }
}

let embedded: EmbeddedServer | undefined

/** Starts (or reuses) the server every database test uses, once for the whole run. */
export async function setup(project: TestProject) {
  let baseUrl = process.env.TEST_DATABASE_URL
  if (baseUrl) parsePgUrl(baseUrl, 'TEST_DATABASE_URL')
  else {
    embedded = await startEmbedded()
    baseUrl = embedded.url
  }
  project.provide('baseUrl', baseUrl)
}

export async function teardown() {
  await embedded?.stop()
}
