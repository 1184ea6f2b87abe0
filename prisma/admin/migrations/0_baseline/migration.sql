-- CreateEnum
CREATE TYPE "user_role_enum" AS ENUM ('ADMIN', 'OPERATOR', 'USER');

-- CreateEnum
CREATE TYPE "user_status_enum" AS ENUM ('ACTIVE', 'INACTIVE', 'LOCKED', 'DELETED');

-- CreateEnum
CREATE TYPE "storage_mode_enum" AS ENUM ('EDIT', 'RW', 'RO', 'AR');

-- CreateEnum
CREATE TYPE "storage_type_enum" AS ENUM ('LOCAL', 'S3');

-- CreateEnum
CREATE TYPE "storage_status_enum" AS ENUM ('ONLINE', 'OFFLINE', 'DEGRADED', 'MAINTENANCE');

-- CreateEnum
CREATE TYPE "service_account_role_enum" AS ENUM ('ADMIN', 'USER', 'AUDITOR', 'READONLY');

-- CreateEnum
CREATE TYPE "service_account_status_enum" AS ENUM ('ACTIVE', 'SUSPENDED', 'EXPIRED', 'DELETED');

-- CreateTable
CREATE TABLE "users" (
    "id" SERIAL NOT NULL,
    "username" VARCHAR(100) NOT NULL,
    "email" VARCHAR(255) NOT NULL,
    "first_name" VARCHAR(100),
    "last_name" VARCHAR(100),
    "hashed_password" VARCHAR(255),
    "ldap_dn" VARCHAR(500),
    "role" "user_role_enum" NOT NULL,
    "status" "user_status_enum" NOT NULL,
    "is_system" BOOLEAN NOT NULL,
    "last_login" TIMESTAMPTZ,
    "failed_login_attempts" INTEGER NOT NULL,
    "lockout_until" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "storage_elements" (
    "id" SERIAL NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "description" VARCHAR(500),
    "mode" "storage_mode_enum" NOT NULL,
    "storage_type" "storage_type_enum" NOT NULL,
    "base_path" VARCHAR(500) NOT NULL,
    "api_url" VARCHAR(255) NOT NULL,
    "api_key" VARCHAR(255),
    "status" "storage_status_enum" NOT NULL,
    "capacity_bytes" BIGINT,
    "used_bytes" BIGINT NOT NULL,
    "file_count" INTEGER NOT NULL,
    "retention_days" INTEGER,
    "last_health_check" TIMESTAMPTZ,
    "is_replicated" BOOLEAN NOT NULL,
    "replica_count" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "storage_elements_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_accounts" (
    "id" UUID NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "description" VARCHAR(500),
    "client_id" VARCHAR(100) NOT NULL,
    "client_secret_hash" VARCHAR(255) NOT NULL,
    "secret_history" JSONB DEFAULT '[]',
    "secret_changed_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "role" "service_account_role_enum" NOT NULL DEFAULT 'USER',
    "status" "service_account_status_enum" NOT NULL DEFAULT 'ACTIVE',
    "is_system" BOOLEAN NOT NULL DEFAULT false,
    "rate_limit" INTEGER NOT NULL DEFAULT 100,
    "secret_expires_at" TIMESTAMPTZ NOT NULL,
    "last_used_at" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "service_accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "jwt_keys" (
    "id" SERIAL NOT NULL,
    "version" VARCHAR(36) NOT NULL,
    "private_key" TEXT NOT NULL,
    "public_key" TEXT NOT NULL,
    "algorithm" VARCHAR(10) NOT NULL DEFAULT 'RS256',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "rotation_count" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "jwt_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_logs" (
    "id" BIGSERIAL NOT NULL,
    "event_type" VARCHAR(100) NOT NULL,
    "severity" VARCHAR(20) NOT NULL DEFAULT 'info',
    "user_id" INTEGER,
    "service_account_id" UUID,
    "actor_type" VARCHAR(20) NOT NULL,
    "resource_type" VARCHAR(50),
    "resource_id" VARCHAR(100),
    "action" VARCHAR(50) NOT NULL,
    "ip_address" VARCHAR(45),
    "user_agent" TEXT,
    "request_id" VARCHAR(36),
    "session_id" VARCHAR(100),
    "data" JSONB,
    "success" BOOLEAN NOT NULL,
    "error_message" TEXT,
    "hmac_signature" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_logs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "idx_user_ldap_lookup" ON "users"("ldap_dn") WHERE (ldap_dn IS NOT NULL);

-- CreateIndex
CREATE INDEX "idx_user_status_role" ON "users"("status", "role");

-- CreateIndex
CREATE INDEX "ix_users_status" ON "users"("status");

-- CreateIndex
CREATE UNIQUE INDEX "uq_username" ON "users"("username");

-- CreateIndex
CREATE UNIQUE INDEX "uq_email" ON "users"("email");

-- CreateIndex
CREATE UNIQUE INDEX "ix_users_email" ON "users"("email");

-- CreateIndex
CREATE UNIQUE INDEX "ix_users_ldap_dn" ON "users"("ldap_dn");

-- CreateIndex
CREATE UNIQUE INDEX "ix_users_username" ON "users"("username");

-- CreateIndex
CREATE INDEX "idx_storage_mode_status" ON "storage_elements"("mode", "status");

-- CreateIndex
CREATE INDEX "idx_storage_status" ON "storage_elements"("status");

-- CreateIndex
CREATE INDEX "ix_storage_elements_mode" ON "storage_elements"("mode");

-- CreateIndex
CREATE INDEX "ix_storage_elements_status" ON "storage_elements"("status");

-- CreateIndex
CREATE UNIQUE INDEX "ix_storage_elements_name" ON "storage_elements"("name");

-- CreateIndex
CREATE INDEX "idx_service_account_client_id" ON "service_accounts"("client_id");

-- CreateIndex
CREATE INDEX "idx_service_account_secret_expiry" ON "service_accounts"("secret_expires_at");

-- CreateIndex
CREATE INDEX "idx_service_account_status_role" ON "service_accounts"("status", "role");

-- CreateIndex
CREATE INDEX "ix_service_accounts_status" ON "service_accounts"("status");

-- CreateIndex
CREATE UNIQUE INDEX "uq_service_account_name" ON "service_accounts"("name");

-- CreateIndex
CREATE UNIQUE INDEX "uq_service_account_client_id" ON "service_accounts"("client_id");

-- CreateIndex
CREATE UNIQUE INDEX "ix_service_accounts_client_id" ON "service_accounts"("client_id");

-- CreateIndex
CREATE UNIQUE INDEX "ix_service_accounts_name" ON "service_accounts"("name");

-- CreateIndex
CREATE INDEX "ix_jwt_keys_is_active" ON "jwt_keys"("is_active");

-- CreateIndex
CREATE UNIQUE INDEX "ix_jwt_keys_version" ON "jwt_keys"("version");

-- CreateIndex
CREATE INDEX "ix_audit_logs_created_at" ON "audit_logs"("created_at");

-- CreateIndex
CREATE INDEX "ix_audit_logs_event_type" ON "audit_logs"("event_type");

-- CreateIndex
CREATE INDEX "ix_audit_logs_request_id" ON "audit_logs"("request_id");

-- CreateIndex
CREATE INDEX "ix_audit_logs_service_account_id" ON "audit_logs"("service_account_id");

-- CreateIndex
CREATE INDEX "ix_audit_logs_severity" ON "audit_logs"("severity");

-- CreateIndex
CREATE INDEX "ix_audit_logs_success" ON "audit_logs"("success");

-- CreateIndex
CREATE INDEX "ix_audit_logs_user_id" ON "audit_logs"("user_id");

-- AddForeignKey
ALTER TABLE "audit_logs" ADD CONSTRAINT "audit_logs_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "audit_logs" ADD CONSTRAINT "audit_logs_service_account_id_fkey" FOREIGN KEY ("service_account_id") REFERENCES "service_accounts"("id") ON DELETE SET NULL ON UPDATE NO ACTION;

-- Extra: sql/10_unique_constraints.sql
-- The services' unique CONSTRAINTS (not just unique indexes): Prisma creates each as a unique index
-- of the same name; this turns those indexes into constraints, which is what the legacy catalog has.
ALTER TABLE "users" ADD CONSTRAINT "uq_username" UNIQUE USING INDEX "uq_username";
ALTER TABLE "users" ADD CONSTRAINT "uq_email" UNIQUE USING INDEX "uq_email";
ALTER TABLE "service_accounts" ADD CONSTRAINT "uq_service_account_name" UNIQUE USING INDEX "uq_service_account_name";
ALTER TABLE "service_accounts" ADD CONSTRAINT "uq_service_account_client_id" UNIQUE USING INDEX "uq_service_account_client_id";
