-- Late uploads and 3507 withdrawals (issue 11, docs/ledger.md "Withdrawals").
--
-- inf_time: the envelope's inf_time, when the institution sent the message (NULL when
--   the envelope had none, and for rows stored before this migration: the row's own
--   event_time stands in for it). Uploads are ordered by (inf_time, msgid), never by
--   arrival.
-- withdrawn_by: the msgid of the 3507 (进销存数据删除) that withdrew the row, NULL while
--   it stands. A withdrawn row stays for audit and has no effect on sale_codes, the
--   ledger or what the detectors read. Derived from the facts: `ledger rebuild`
--   recomputes it (a store that held 3507s before this migration gets them applied by
--   one rebuild).
-- (IF NOT EXISTS: a test takes a store back to version 6 and migrates it again.)
ALTER TABLE events ADD COLUMN IF NOT EXISTS inf_time TIMESTAMP;
ALTER TABLE events ADD COLUMN IF NOT EXISTS withdrawn_by VARCHAR;
