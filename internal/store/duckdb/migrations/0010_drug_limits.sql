-- The knowledge base of drug limits (知识库, issue 12; docs/data-formats.md "drug_limits"):
-- one row per drug, NULL where the row sets no limit. Quantities are in 1/10000 of a
-- minimum unit (tracewatch.Qty); scenes is a |-joined list of outpatient, inpatient,
-- pharmacy.
-- (IF NOT EXISTS: a test takes a store back to an older version and migrates it again.)
CREATE TABLE IF NOT EXISTS drug_limits (
    med_list_codg VARCHAR PRIMARY KEY,
    gender        VARCHAR,
    min_age       INTEGER,
    max_age       INTEGER,
    max_days      INTEGER,
    daily_dose    BIGINT,
    max_qty       BIGINT,
    period_days   INTEGER,
    hosp_lv       VARCHAR,
    scenes        VARCHAR,
    basis         VARCHAR
);
