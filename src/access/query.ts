import { PrismaClient, type Prisma } from '../../generated/query/client.ts'
import { adapterFor } from './adapter.ts'

/** A typed connection to a query-module database. */
export const openQuery = (url: string) => new PrismaClient({ adapter: adapterFor(url) })
export type QueryDb = ReturnType<typeof openQuery>

export function cacheFile(db: QueryDb, row: Prisma.FileMetadataCacheCreateInput) {
  return db.fileMetadataCache.create({ data: row })
}

/**
 * Full-text search as the query service does it: `search_vector @@ plainto_tsquery('russian', text)`,
 * best match first. The vector is filled by the database's trigger.
 */
export function searchFiles(db: QueryDb, text: string, limit = 20) {
  return db.$queryRaw<{ id: string; filename: string; rank: number }[]>`
    select id, filename, ts_rank(search_vector, plainto_tsquery('russian', ${text}))::float8 as rank
      from file_metadata_cache
     where search_vector @@ plainto_tsquery('russian', ${text})
     order by rank desc, id
     limit ${limit}`
}
