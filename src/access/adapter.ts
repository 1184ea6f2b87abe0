import { PrismaPg } from '@prisma/adapter-pg'
import { pgConfigFromUrl } from '../db/pg-config.ts'

/**
 * The driver adapter for a module URL: `?schema=` becomes the schema the client's queries name and
 * the session's search_path (for raw SQL).
 */
export function adapterFor(url: string): PrismaPg {
  const { config, schema } = pgConfigFromUrl(url)
  return new PrismaPg(config, schema ? { schema } : undefined)
}
