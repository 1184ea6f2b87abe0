-- CreateTable
CREATE TABLE "storage_elem_01_config" (
    "id" SERIAL NOT NULL,
    "current_mode" VARCHAR(10) NOT NULL,
    "mode_changed_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "mode_changed_by" VARCHAR(255),
    "is_master" BOOLEAN NOT NULL,
    "master_elected_at" TIMESTAMPTZ,
    "total_files" INTEGER NOT NULL,
    "total_size_bytes" BIGINT NOT NULL,
    "last_cache_rebuild" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "storage_elem_01_config_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "storage_elem_01_files" (
    "file_id" UUID NOT NULL,
    "original_filename" VARCHAR(500) NOT NULL,
    "storage_filename" VARCHAR(500) NOT NULL,
    "file_size" BIGINT NOT NULL,
    "content_type" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by_id" VARCHAR(255) NOT NULL,
    "created_by_username" VARCHAR(255) NOT NULL,
    "created_by_fullname" VARCHAR(500),
    "description" TEXT,
    "version" VARCHAR(50),
    "storage_path" VARCHAR(1000) NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "search_vector" tsvector,
    "metadata_json" JSONB,

    CONSTRAINT "storage_elem_01_files_pkey" PRIMARY KEY ("file_id")
);

-- CreateTable
CREATE TABLE "storage_elem_01_wal" (
    "transaction_id" UUID NOT NULL,
    "operation_type" VARCHAR(50) NOT NULL,
    "status" VARCHAR(20) NOT NULL,
    "file_id" UUID,
    "operation_data" JSONB NOT NULL,
    "error_message" TEXT,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ,
    "duration_ms" INTEGER,
    "user_id" VARCHAR(255),

    CONSTRAINT "storage_elem_01_wal_pkey" PRIMARY KEY ("transaction_id")
);

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_filename" ON "storage_elem_01_files"("original_filename");

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_metadata" ON "storage_elem_01_files" USING GIN ("metadata_json");

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_search_vector" ON "storage_elem_01_files" USING GIN ("search_vector");

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_user_date" ON "storage_elem_01_files"("created_by_id", "created_at");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_files_created_by_id" ON "storage_elem_01_files"("created_by_id");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_files_created_by_username" ON "storage_elem_01_files"("created_by_username");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_files_file_id" ON "storage_elem_01_files"("file_id");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_files_original_filename" ON "storage_elem_01_files"("original_filename");

-- CreateIndex
CREATE UNIQUE INDEX "ix_storage_elem_01_files_storage_filename" ON "storage_elem_01_files"("storage_filename");

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_wal_data" ON "storage_elem_01_wal" USING GIN ("operation_data");

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_wal_file" ON "storage_elem_01_wal"("file_id", "started_at");

-- CreateIndex
CREATE INDEX "idx_storage_elem_01_wal_status_time" ON "storage_elem_01_wal"("status", "started_at");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_wal_file_id" ON "storage_elem_01_wal"("file_id");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_wal_operation_type" ON "storage_elem_01_wal"("operation_type");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_wal_status" ON "storage_elem_01_wal"("status");

-- CreateIndex
CREATE INDEX "ix_storage_elem_01_wal_user_id" ON "storage_elem_01_wal"("user_id");

-- Extra: sql/20_search_vector.sql
-- Fills search_vector from the file's name (weight A) and description (weight B), with the russian
-- text-search configuration, on every insert and on updates of those columns.
CREATE FUNCTION "storage_elem_01_files_search_vector_update"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector :=
    setweight(to_tsvector('russian', COALESCE(NEW.original_filename, '')), 'A') ||
    setweight(to_tsvector('russian', COALESCE(NEW.description, '')), 'B');
  RETURN NEW;
END;
$$;

CREATE TRIGGER "storage_elem_01_files_search_vector"
BEFORE INSERT OR UPDATE OF original_filename, description ON "storage_elem_01_files"
FOR EACH ROW EXECUTE FUNCTION "storage_elem_01_files_search_vector_update"();
