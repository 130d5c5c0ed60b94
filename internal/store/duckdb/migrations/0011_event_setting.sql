-- The care setting of an event (issue 12, "Domain, once"): nhsa states it when it decodes
-- a message (tracewatch.Setting: 'outpatient' for 2204/2207/2208, 'inpatient' for
-- 2301/2304/2305, '' for the 35xx interfaces), and the reads select on it instead of
-- guessing from infno. Rows stored before this migration get it from their infno, once;
-- only the settlement-side rows are rewritten (the 35xx rows keep the default '').
-- (IF NOT EXISTS: a test takes a store back to an older version and migrates it again.)
ALTER TABLE events ADD COLUMN IF NOT EXISTS setting VARCHAR DEFAULT '';
UPDATE events SET setting = CASE WHEN infno IN ('2204', '2207', '2208') THEN 'outpatient' ELSE 'inpatient' END
WHERE infno IN ('2204', '2207', '2208', '2301', '2304', '2305') AND (setting IS NULL OR setting = '');
