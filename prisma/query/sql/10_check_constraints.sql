-- Check constraints of the query module (Prisma cannot express them).
ALTER TABLE "file_metadata_cache" ADD CONSTRAINT "check_file_size_positive" CHECK (file_size >= 0);
ALTER TABLE "file_metadata_cache" ADD CONSTRAINT "check_tags_count" CHECK (array_length(tags, 1) <= 50);
ALTER TABLE "search_history" ADD CONSTRAINT "check_results_count_positive" CHECK (results_count >= 0);
ALTER TABLE "search_history" ADD CONSTRAINT "check_response_time_positive" CHECK (response_time_ms >= 0);
ALTER TABLE "download_statistics" ADD CONSTRAINT "check_bytes_positive" CHECK (bytes_transferred >= 0);
ALTER TABLE "download_statistics" ADD CONSTRAINT "check_download_time_positive" CHECK (download_time_ms >= 0);
