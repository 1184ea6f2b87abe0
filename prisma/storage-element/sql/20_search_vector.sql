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
