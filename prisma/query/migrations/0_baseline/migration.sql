-- CreateTable
CREATE TABLE "file_metadata_cache" (
    "id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "file_metadata_cache_pkey" PRIMARY KEY ("id")
);

