-- The expiry date a code itself carries (GS1 AI 17), midnight Asia/Shanghai in UTC, for
-- T4 when the row has no expy_end.
ALTER TABLE event_codes ADD COLUMN expires TIMESTAMP;
