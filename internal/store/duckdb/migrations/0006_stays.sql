-- An inpatient settlement's stay (2304 adm_date, dscg_date, dscg_maindiag_code), for C5
-- split hospitalisation (分解住院).
ALTER TABLE events ADD COLUMN adm_time TIMESTAMP;
ALTER TABLE events ADD COLUMN dscg_time TIMESTAMP;
ALTER TABLE events ADD COLUMN diag_code VARCHAR;
