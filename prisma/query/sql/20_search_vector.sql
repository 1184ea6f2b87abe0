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
