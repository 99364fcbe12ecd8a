-- A chunk of new leads in one statement (PostgreSQL), one array per column: each contact
-- joins the campaign PENDING and due now; a contact already in the campaign is left as it is.
-- The same values as the portable path's rows (sql.py, _lead_row).
INSERT INTO leads
    (campaign_id, contact_id, tenant_id, phone, zone_key, quiet_hours, status, attempts,
     next_attempt_at, version, updated_at)
SELECT :campaign_id, contact_id, :tenant_id, phone, zone_key, quiet_hours, :status, 0,
       :now, 1, :now
FROM unnest(
    CAST(:contact_ids AS bigint[]), CAST(:phones AS text[]), CAST(:zone_keys AS text[]),
    CAST(:quiet_hours AS text[])
) WITH ORDINALITY AS item (contact_id, phone, zone_key, quiet_hours, position)
ORDER BY position
ON CONFLICT (campaign_id, contact_id) DO NOTHING
