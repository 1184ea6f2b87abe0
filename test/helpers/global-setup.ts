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

/**
 * Starts (or reuses) the server every database test uses, once for the whole run. Vitest calls this
 * for the root and for each project; only the db project needs a server (a unit-only run starts none).
 */
export async function setup(project: TestProject) {
  if (project.name !== 'db') return
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
