-- A chunk of contacts in one statement (PostgreSQL): the chunk arrives as one array per
-- column, a number new to the tenant is inserted, a number it already has keeps its row as
-- it is; the answer is every row's contact id, in the chunk's order.
WITH chunk AS (
    SELECT *
    FROM unnest(
        CAST(:phones AS text[]), CAST(:names AS text[]), CAST(:timezones AS text[]),
        CAST(:tags AS text[]), CAST(:attributes AS text[]), CAST(:quiet_hours AS text[])
    ) WITH ORDINALITY AS item (phone, name, timezone, tags, attributes, quiet_hours, position)
),
inserted AS (
    INSERT INTO contacts
        (tenant_id, phone, name, timezone, tags, attributes, quiet_hours, version, created_at)
    SELECT :tenant_id, phone, name, timezone, CAST(tags AS json), CAST(attributes AS json),
           quiet_hours, 1, :now
    FROM chunk
    ORDER BY position  -- ids in the chunk's order, as row-by-row inserts would give them
    ON CONFLICT (tenant_id, phone) DO NOTHING
    RETURNING id, phone
)
-- The outer query sees the table as it was before this statement: a number inserted now is
-- found in "inserted"; only a number stored before is looked up, one unique-index probe each
-- (a join here would be planned from the table's statistics, which lag behind a bulk import,
-- and could read the whole table for every chunk).
SELECT chunk.position,
       coalesce(
           inserted.id,
           (SELECT existing.id FROM contacts AS existing
            WHERE existing.tenant_id = :tenant_id AND existing.phone = chunk.phone)
       ) AS id
FROM chunk
LEFT JOIN inserted ON inserted.phone = chunk.phone
ORDER BY chunk.position
