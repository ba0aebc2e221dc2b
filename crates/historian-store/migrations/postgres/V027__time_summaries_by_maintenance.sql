-- The BRIN summary of time on readings stays; who summarises it changes.
--
-- With autosummarize each filled range of 128 heap pages asks autovacuum for a summary.
-- Its queue holds 256 requests and is served once per naptime, so at a high rate it is
-- full within the minute and every further request fails with a LOG line carrying the
-- whole COPY statement: at 100,000 readings/s, 390 lines (208 kB) a minute, 300 MB of
-- server log a day, none of it actionable. Maintenance now summarises the new ranges of
-- recent chunks or partitions itself (and vacuum still summarises what it passes); a
-- range not yet summarised is always read by a time scan, so nothing is missed meanwhile.
CREATE FUNCTION historian_summarize_time_ranges(tables regclass[]) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    idx regclass;
    quiet boolean;
    summarized bigint := 0;
BEGIN
    FOR idx, quiet IN
        SELECT i.indexrelid::regclass,
               coalesce(c.reloptions @> ARRAY['autosummarize=off'], false)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am a ON a.oid = c.relam
        WHERE a.amname = 'brin' AND c.relkind = 'i' AND i.indrelid = ANY (tables)
    LOOP
        -- A new chunk copies the option from the hypertable's index; a new partition
        -- takes the partitioned index's, which cannot be changed: it is set here.
        IF NOT quiet THEN
            EXECUTE format('ALTER INDEX %s SET (autosummarize = off)', idx);
        END IF;
        summarized := summarized + brin_summarize_new_values(idx);
    END LOOP;
    RETURN summarized;
END
$fn$;

COMMENT ON FUNCTION historian_summarize_time_ranges(regclass[]) IS
    'Turns autosummarize off on the BRIN indexes of these tables and summarises their new '
    'page ranges; returns the ranges summarised. Run by the historian''s maintenance.';

-- Existing indexes: readings itself (a hypertable) and every chunk or partition, without
-- summarising here (autovacuum has kept them summarised so far).
DO $migration$
DECLARE
    idx regclass;
BEGIN
    FOR idx IN
        SELECT i.indexrelid::regclass
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am a ON a.oid = c.relam
        WHERE a.amname = 'brin' AND c.relkind = 'i'
          AND (i.indrelid = 'readings'::regclass
               OR i.indrelid IN (SELECT inhrelid FROM pg_inherits
                                 WHERE inhparent = 'readings'::regclass))
    LOOP
        EXECUTE format('ALTER INDEX %s SET (autosummarize = off)', idx);
    END LOOP;
END
$migration$;
