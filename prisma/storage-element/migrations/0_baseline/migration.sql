-- CreateTable
CREATE TABLE "storage_elem_01_files" (
    "id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "storage_elem_01_files_pkey" PRIMARY KEY ("id")
);

