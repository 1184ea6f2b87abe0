/**
 * Upstream's admin change after the reset (fact sheet §9.2), as migrations of the admin module, for the
 * live benchmark: `storage_elements` gains `element_id` (unique) and `priority`, and `audit_logs`
 * gains `admin_user_id` → `admin_users`, backfilled from `users` (README "Expand → backfill →
 * contract"; the contract step, dropping `users`, is not part of it). Every statement is in the form
 * that keeps the services running: a constant DEFAULT (no rewrite), the FK `NOT VALID` and validated
 * in a later migration, the index on the big table built CONCURRENTLY in a migration of its own.
 *
 * The backfill is the one step whose form changes with the tooling: it is written in one place,
 * BACKFILL, in both forms (a plain UPDATE, and the batched declaration).
 */
import fs from 'node:fs'
import path from 'node:path'

export interface BenchMigration {
  name: string
  up: string
  down: string
}

const header = (name: string, what: string) => `-- ${name}: ${what} (upstream's admin change, live benchmark)\n`

const COPY_USERS = `INSERT INTO "admin_users" ("id", "username", "role", "created_at", "updated_at")
SELECT gen_random_uuid(), u."username",
       CASE u."role" WHEN 'ADMIN' THEN 'admin' ELSE 'readonly' END::"admin_role",
       u."created_at", u."updated_at"
  FROM "users" u;
`

export type BackfillForm = 'plain' | 'batched'

/**
 * The backfill of `audit_logs.admin_user_id`, the one migration whose text depends on the form:
 * `plain`, one UPDATE of every row in the migration's one transaction; `batched`, the same UPDATE
 * declared batched (`-- artstore: batched …`: deploy runs it once per key range `$1`..`$2`, each
 * batch its own short transaction), for a tool that has batched backfills.
 */
export const BACKFILL = {
  name: '20261203000003_backfill_admin_user_id',
  forms: {
    plain: {
      what: 'one UPDATE in one transaction',
      header: '',
      sql: `UPDATE "audit_logs" a SET "admin_user_id" = au."id"
  FROM "users" u JOIN "admin_users" au ON au."username" = u."username"
 WHERE a."user_id" = u."id";
`,
    },
    batched: {
      what: 'batched by id, 1000 rows in the first batch',
      header: '-- artstore: batched table=audit_logs key=id size=1000\n',
      sql: `UPDATE "audit_logs" a SET "admin_user_id" = au."id"
  FROM "users" u JOIN "admin_users" au ON au."username" = u."username"
 WHERE a."id" BETWEEN $1 AND $2
   AND a."user_id" = u."id";
`,
    },
  } satisfies Record<BackfillForm, { what: string; header: string; sql: string }>,
  down: `UPDATE "audit_logs" SET "admin_user_id" = NULL;
`,
}

/** Upstream's admin change as migrations, with the backfill in the given form. */
export const upstreamAdminMigrations = (form: BackfillForm = 'plain'): BenchMigration[] => [
  {
    name: '20261203000000_storage_elements_element_id_priority',
    up: `${header('20261203000000_storage_elements_element_id_priority', 'element_id and priority on storage_elements')}
ALTER TABLE "storage_elements" ADD COLUMN "element_id" VARCHAR(50),
                               ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 100;
CREATE UNIQUE INDEX "ix_storage_elements_element_id" ON "storage_elements"("element_id");
CREATE INDEX "idx_storage_mode_priority" ON "storage_elements"("mode", "priority");
`,
    down: `DROP INDEX "idx_storage_mode_priority";
DROP INDEX "ix_storage_elements_element_id";
ALTER TABLE "storage_elements" DROP COLUMN "priority", DROP COLUMN "element_id";
`,
  },
  {
    name: '20261203000001_admin_users',
    up: `${header('20261203000001_admin_users', 'admin_users, and audit_logs.admin_user_id with its FK NOT VALID')}
CREATE TYPE "admin_role" AS ENUM ('super_admin', 'admin', 'readonly');
CREATE TABLE "admin_users" (
    "id" UUID NOT NULL,
    "username" VARCHAR(100) NOT NULL,
    "email" VARCHAR(255),
    "password_hash" VARCHAR(255),
    "first_name" VARCHAR(100),
    "last_name" VARCHAR(100),
    "description" TEXT,
    "role" "admin_role" NOT NULL DEFAULT 'readonly',
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "is_system" BOOLEAN NOT NULL DEFAULT false,
    "last_login_at" TIMESTAMPTZ,
    "failed_login_attempts" INTEGER NOT NULL DEFAULT 0,
    "locked_until" TIMESTAMPTZ,
    "password_changed_at" TIMESTAMPTZ,
    "password_history" JSONB,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "admin_users_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ix_admin_users_username" ON "admin_users"("username");
ALTER TABLE "audit_logs" ADD COLUMN "admin_user_id" UUID;
ALTER TABLE "audit_logs" ADD CONSTRAINT "audit_logs_admin_user_id_fkey" FOREIGN KEY ("admin_user_id")
  REFERENCES "admin_users"("id") ON DELETE SET NULL ON UPDATE NO ACTION NOT VALID;
`,
    down: `ALTER TABLE "audit_logs" DROP CONSTRAINT "audit_logs_admin_user_id_fkey";
ALTER TABLE "audit_logs" DROP COLUMN "admin_user_id";
DROP TABLE "admin_users";
DROP TYPE "admin_role";
`,
  },
  {
    name: '20261203000002_copy_users',
    up: `${header('20261203000002_copy_users', 'admin_users from users')}\n${COPY_USERS}`,
    down: `DELETE FROM "admin_users";
`,
  },
  {
    name: BACKFILL.name,
    up: `${header(BACKFILL.name, `audit_logs.admin_user_id backfilled: ${BACKFILL.forms[form].what}`)}${BACKFILL.forms[form].header}\n${BACKFILL.forms[form].sql}`,
    down: BACKFILL.down,
  },
  {
    // A lone CONCURRENTLY statement: deploy runs it outside a transaction, without lock timeouts.
    name: '20261203000004_audit_logs_admin_user_id_idx',
    up: `${header('20261203000004_audit_logs_admin_user_id_idx', 'the index of audit_logs.admin_user_id, built CONCURRENTLY')}
CREATE INDEX CONCURRENTLY "ix_audit_logs_admin_user_id" ON "audit_logs"("admin_user_id");
`,
    down: `DROP INDEX CONCURRENTLY "ix_audit_logs_admin_user_id";
`,
  },
  {
    name: '20261203000005_validate_audit_logs_admin_user_id_fkey',
    up: `${header('20261203000005_validate_audit_logs_admin_user_id_fkey', 'the FK validated (SHARE UPDATE EXCLUSIVE: writes go on)')}
ALTER TABLE "audit_logs" VALIDATE CONSTRAINT "audit_logs_admin_user_id_fkey";
`,
    down: `-- A validated constraint stays valid: nothing to undo.
`,
  },
]

/** Writes the upstream admin migrations into a scratch prisma dir's admin history (after whatever it has). */
export function writeUpstreamAdminChange(prismaDir: string, migrations: BenchMigration[] = upstreamAdminMigrations()): string[] {
  const dir = path.join(prismaDir, 'admin', 'migrations')
  const existing = fs.readdirSync(dir).filter((n) => /^\d/.test(n) && n !== '0_baseline')
  const last = existing.sort().at(-1)
  for (const m of migrations) {
    if (last && m.name <= last) throw new Error(`upstream migration ${m.name} would sort before the admin module's ${last}: rename it`)
    fs.mkdirSync(path.join(dir, m.name), { recursive: true })
    fs.writeFileSync(path.join(dir, m.name, 'migration.sql'), m.up)
    fs.writeFileSync(path.join(dir, m.name, 'down.sql'), m.down)
  }
  return migrations.map((m) => m.name)
}
