-- Clues (疑点线索), written by the detectors. One row per fingerprint: a detector run
-- over the same facts updates its clue instead of adding another. Key lists are stored
-- as JSON arrays of strings, the evidence as a JSON array.

CREATE TABLE clues (
    id             BIGINT NOT NULL,    -- unique, assigned in the order clues are first found
    fingerprint    VARCHAR NOT NULL,
    detector       VARCHAR NOT NULL,   -- id@version
    detector_name  VARCHAR NOT NULL,   -- id without the version, for filters
    rule           VARCHAR NOT NULL,
    severity       INTEGER NOT NULL,   -- 1 提示 … 4 明确违规
    subject_kind   VARCHAR NOT NULL,
    subject_id     VARCHAR NOT NULL,
    admdvs         VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    amount_fen     BIGINT NOT NULL,
    codes          VARCHAR NOT NULL,
    settlements    VARCHAR NOT NULL,
    receipts       VARCHAR NOT NULL,
    msgids         VARCHAR NOT NULL,
    persons        VARCHAR NOT NULL,
    evidence       VARCHAR NOT NULL,
    explanation    VARCHAR NOT NULL,
    state          VARCHAR NOT NULL,
    first_seen     TIMESTAMP NOT NULL,
    last_seen      TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX clues_fingerprint ON clues (fingerprint);
CREATE UNIQUE INDEX clues_id ON clues (id);

-- One row per code a clue names, for lookups by code and the false-alert rate.
CREATE TABLE clue_codes (
    clue_id  BIGINT NOT NULL,
    code_key VARCHAR NOT NULL,
    PRIMARY KEY (clue_id, code_key)
);
