/**
 * Realistic rows for the query module's file_metadata_cache, made by the server itself (one INSERT …
 * SELECT over generate_series): Russian and English file names and descriptions, three storage
 * elements, 500 users, two tags each, a year of upload times. Shared by the search benchmark and the
 * planner test. The full-text trigger fills search_vector as rows arrive.
 */
export const insertSearchRows = (rows: number, offset = 0): string => `
insert into file_metadata_cache (id, filename, storage_filename, file_size, mime_type, sha256_hash, username, tags, description,
                                 storage_element_id, storage_element_url, created_at, updated_at)
select gen_random_uuid()::text,
       (array['отчёт', 'годовой', 'квартальный', 'договор', 'annual', 'invoice', 'scan', 'presentation'])[1 + g % 8]
         || '_' || g || '.' || (array['pdf', 'docx', 'xlsx', 'png'])[1 + g % 4],
       'stored_' || g,
       1024 + g % 1000000,
       (array['application/pdf', 'image/png', 'text/plain'])[1 + g % 3],
       md5(g::text) || md5((g + 1)::text),
       'user_' || (g % 500),
       array[(array['финансы', 'юридический', 'hr', 'archive', 'scan', 'draft'])[1 + g % 6],
             (array['2024', '2025', 'q1', 'q2', 'q3', 'q4'])[1 + (g / 7) % 6]]::varchar(50)[],
       case when g % 3 = 0 then null
            else (array['Квартальный отчёт отдела продаж', 'Договор поставки оборудования', 'Scanned invoice from the supplier',
                        'Годовой финансовый план', 'Meeting notes and presentation slides'])[1 + g % 5] || ' №' || g end,
       'storage_elem_0' || (1 + g % 3),
       'http://storage-elem-0' || (1 + g % 3) || ':8010',
       timestamptz '2025-01-01' + (g % 31536000) * interval '1 second',
       timestamptz '2025-01-01' + (g % 31536000) * interval '1 second'
  from generate_series(${offset + 1}, ${offset + rows}) g`

/** The service's searches (its search_service), as it sends them: a page of 50, newest first, and the total count. */
export const searchShapes = [
  {
    name: 'full-text page of 50',
    sql: `select * from file_metadata_cache where search_vector @@ plainto_tsquery('russian', $1) order by created_at desc limit 50 offset 0`,
    param: 'квартальный',
    page: true,
  },
  {
    name: 'full-text total count',
    sql: `select count(*) from file_metadata_cache where search_vector @@ plainto_tsquery('russian', $1)`,
    param: 'квартальный',
    page: false,
  },
  {
    name: 'partial page of 50',
    sql: `select * from file_metadata_cache where filename ilike $1 or description ilike $1 order by created_at desc limit 50 offset 0`,
    param: '%квартальный_4242%',
    page: true,
  },
  {
    name: 'partial total count',
    sql: `select count(*) from file_metadata_cache where filename ilike $1 or description ilike $1`,
    param: '%квартальный_4242%',
    page: false,
  },
  {
    name: 'tags page of 50',
    sql: `select * from file_metadata_cache where tags && $1::varchar[] order by created_at desc limit 50 offset 0`,
    param: ['финансы', 'q1'],
    page: true,
  },
] as const
