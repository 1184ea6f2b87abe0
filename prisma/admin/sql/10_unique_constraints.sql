-- The services' unique CONSTRAINTS (not just unique indexes): Prisma creates each as a unique index
-- of the same name; this turns those indexes into constraints, which is what the legacy catalog has.
ALTER TABLE "users" ADD CONSTRAINT "uq_username" UNIQUE USING INDEX "uq_username";
ALTER TABLE "users" ADD CONSTRAINT "uq_email" UNIQUE USING INDEX "uq_email";
ALTER TABLE "service_accounts" ADD CONSTRAINT "uq_service_account_name" UNIQUE USING INDEX "uq_service_account_name";
ALTER TABLE "service_accounts" ADD CONSTRAINT "uq_service_account_client_id" UNIQUE USING INDEX "uq_service_account_client_id";
