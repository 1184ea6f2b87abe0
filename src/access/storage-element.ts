import { PrismaClient, type Prisma } from '../../generated/storage-element/client.ts'
import { adapterFor } from './adapter.ts'

/** A typed connection to a storage element's database (the default prefix's tables). */
export const openStorageElement = (url: string) => new PrismaClient({ adapter: adapterFor(url) })
export type StorageElementDb = ReturnType<typeof openStorageElement>

/** Inserts or replaces one file's cache row. */
export function upsertFile(db: StorageElementDb, file: Prisma.StoredFileCreateInput) {
  const { fileId, ...rest } = file
  return db.storedFile.upsert({ where: { fileId }, create: file, update: rest })
}

/** The full-text vector the trigger computed for a file, as text. */
export async function searchVectorOf(db: StorageElementDb, fileId: string): Promise<string | null> {
  const rows = await db.$queryRaw<{ v: string | null }[]>`select search_vector::text as v from storage_elem_01_files where file_id = ${fileId}::uuid`
  return rows[0]?.v ?? null
}
