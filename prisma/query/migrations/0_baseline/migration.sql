-- CreateTable
CREATE TABLE "file_metadata_cache" (
    "id" VARCHAR(36) NOT NULL,
    "filename" VARCHAR(255) NOT NULL,
    "storage_filename" VARCHAR(512) NOT NULL,
    "file_size" BIGINT NOT NULL,
    "mime_type" VARCHAR(127),
    "sha256_hash" VARCHAR(64) NOT NULL,
    "username" VARCHAR(255) NOT NULL,
    "tags" VARCHAR(50)[],
    "description" TEXT,
    "storage_element_id" VARCHAR(50) NOT NULL,
    "storage_element_url" VARCHAR(512) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "cache_updated_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "search_vector" tsvector,

    CONSTRAINT "file_metadata_cache_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "search_history" (
    "id" SERIAL NOT NULL,
    "query_text" TEXT,
    "search_mode" VARCHAR(20) NOT NULL,
    "filters_applied" TEXT,
    "results_count" INTEGER NOT NULL,
    "response_time_ms" INTEGER NOT NULL,
    "username" VARCHAR(255),
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "search_history_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "download_statistics" (
    "id" SERIAL NOT NULL,
    "file_id" VARCHAR(36) NOT NULL,
    "bytes_transferred" BIGINT NOT NULL,
    "download_time_ms" INTEGER NOT NULL,
    "was_resumed" BOOLEAN NOT NULL,
    "username" VARCHAR(255),
    "storage_element_id" VARCHAR(50) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "download_statistics_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "idx_file_metadata_search_vector" ON "file_metadata_cache" USING GIN ("search_vector");

-- CreateIndex
CREATE INDEX "idx_file_metadata_tags" ON "file_metadata_cache" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "idx_file_metadata_username_created" ON "file_metadata_cache"("username", "created_at");

-- CreateIndex
CREATE INDEX "idx_file_metadata_storage_elem" ON "file_metadata_cache"("storage_element_id", "created_at");

-- CreateIndex
CREATE INDEX "idx_file_metadata_mime_type" ON "file_metadata_cache"("mime_type", "created_at");

-- CreateIndex
CREATE INDEX "idx_file_metadata_file_size" ON "file_metadata_cache"("file_size", "created_at");

-- CreateIndex
CREATE INDEX "ix_file_metadata_cache_filename" ON "file_metadata_cache"("filename");

-- CreateIndex
CREATE INDEX "ix_file_metadata_cache_username" ON "file_metadata_cache"("username");

-- CreateIndex
CREATE INDEX "ix_file_metadata_cache_created_at" ON "file_metadata_cache"("created_at");

-- CreateIndex
CREATE INDEX "ix_file_metadata_cache_updated_at" ON "file_metadata_cache"("updated_at");

-- CreateIndex
CREATE INDEX "ix_file_metadata_cache_mime_type" ON "file_metadata_cache"("mime_type");

-- CreateIndex
CREATE INDEX "ix_file_metadata_cache_storage_element_id" ON "file_metadata_cache"("storage_element_id");

-- CreateIndex
CREATE UNIQUE INDEX "ix_file_metadata_cache_sha256_hash" ON "file_metadata_cache"("sha256_hash");

-- CreateIndex
CREATE INDEX "idx_search_history_created" ON "search_history"("created_at");

-- CreateIndex
CREATE INDEX "idx_search_history_mode" ON "search_history"("search_mode", "created_at");

-- CreateIndex
CREATE INDEX "idx_search_history_username_created" ON "search_history"("username", "created_at");

-- CreateIndex
CREATE INDEX "ix_search_history_created_at" ON "search_history"("created_at");

-- CreateIndex
CREATE INDEX "ix_search_history_username" ON "search_history"("username");

-- CreateIndex
CREATE INDEX "idx_download_stats_file_created" ON "download_statistics"("file_id", "created_at");

-- CreateIndex
CREATE INDEX "idx_download_stats_storage_created" ON "download_statistics"("storage_element_id", "created_at");

-- CreateIndex
CREATE INDEX "idx_download_stats_username_created" ON "download_statistics"("username", "created_at");

-- CreateIndex
CREATE INDEX "ix_download_statistics_created_at" ON "download_statistics"("created_at");

-- CreateIndex
CREATE INDEX "ix_download_statistics_file_id" ON "download_statistics"("file_id");

-- CreateIndex
CREATE INDEX "ix_download_statistics_storage_element_id" ON "download_statistics"("storage_element_id");

-- CreateIndex
CREATE INDEX "ix_download_statistics_username" ON "download_statistics"("username");

-- Extra: sql/10_check_constraints.sql
-- Check constraints of the query module (Prisma cannot express them).
ALTER TABLE "file_metadata_cache" ADD CONSTRAINT "check_file_size_positive" CHECK (file_size >= 0);
ALTER TABLE "file_metadata_cache" ADD CONSTRAINT "check_tags_count" CHECK (array_length(tags, 1) <= 50);
ALTER TABLE "search_history" ADD CONSTRAINT "check_results_count_positive" CHECK (results_count >= 0);
ALTER TABLE "search_history" ADD CONSTRAINT "check_response_time_positive" CHECK (response_time_ms >= 0);
ALTER TABLE "download_statistics" ADD CONSTRAINT "check_bytes_positive" CHECK (bytes_transferred >= 0);
ALTER TABLE "download_statistics" ADD CONSTRAINT "check_download_time_positive" CHECK (download_time_ms >= 0);

-- Extra: sql/20_search_vector.sql
-- The full-text trigger the query service's searches rely on (search_vector @@ plainto_tsquery('russian', …)):
-- weight A the filename, B the description, C the tags, all with the russian configuration.
CREATE FUNCTION "update_file_metadata_search_vector"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_vector :=
    setweight(to_tsvector('russian', COALESCE(NEW.filename, '')), 'A') ||
    setweight(to_tsvector('russian', COALESCE(NEW.description, '')), 'B') ||
    setweight(to_tsvector('russian', COALESCE(array_to_string(NEW.tags, ' '), '')), 'C');
  RETURN NEW;
END;
$$;

CREATE TRIGGER "trigger_update_search_vector"
BEFORE INSERT OR UPDATE OF filename, description, tags ON "file_metadata_cache"
FOR EACH ROW EXECUTE FUNCTION "update_file_metadata_search_vector"();
