import { PrismaClient, type Prisma } from '../../generated/admin/client.ts'
import { adapterFor } from './adapter.ts'

/** A typed connection to an admin database (URL as the module uses it, `?schema=` included). */
export const openAdmin = (url: string) => new PrismaClient({ adapter: adapterFor(url) })
export type AdminDb = ReturnType<typeof openAdmin>

export function createUser(db: AdminDb, data: Pick<Prisma.UserCreateInput, 'username' | 'email'> & Partial<Prisma.UserCreateInput>) {
  return db.user.create({ data: { role: 'USER', status: 'ACTIVE', isSystem: false, failedLoginAttempts: 0, ...data } })
}

/** A service account; its secret expires after 90 days unless said otherwise. */
export function createServiceAccount(
  db: AdminDb,
  data: Pick<Prisma.ServiceAccountCreateInput, 'name' | 'clientId' | 'clientSecretHash'> & Partial<Prisma.ServiceAccountCreateInput>,
) {
  return db.serviceAccount.create({ data: { secretExpiresAt: new Date(Date.now() + 90 * 86_400_000), ...data } })
}

export function recordAuditEvent(db: AdminDb, data: Prisma.AuditLogUncheckedCreateInput) {
  return db.auditLog.create({ data })
}

/** A new signing key, valid 25 hours (24 h plus 1 h of grace). */
export function addJwtKey(db: AdminDb, data: Pick<Prisma.JwtKeyCreateInput, 'version' | 'privateKey' | 'publicKey'>) {
  return db.jwtKey.create({ data: { expiresAt: new Date(Date.now() + 25 * 3_600_000), ...data } })
}

export function registerStorageElement(
  db: AdminDb,
  data: Pick<Prisma.StorageElementCreateInput, 'name' | 'basePath' | 'apiUrl'> & Partial<Prisma.StorageElementCreateInput>,
) {
  return db.storageElement.create({
    data: { mode: 'EDIT', storageType: 'LOCAL', status: 'ONLINE', usedBytes: 0n, fileCount: 0, isReplicated: false, replicaCount: 0, ...data },
  })
}
