-- Hostile input (issue 10).
--
-- 1. A message's msgid is unique per institution: messages are keyed by
--    (fixmedins_code, msgid), so that one institution cannot claim another's msgids.
--    Lines of a bulk file without an institution keep fixmedins_code ''.
-- 2. A quarantined payload is kept as bytes (any bytes: invalid UTF-8, NUL) and once per
--    distinct content, however many refused rows of the message refer to it.
-- 3. Dead letters: journal records or committed batches that could not be stored on
--    their own, kept as bytes with the error so that nothing acknowledged is lost.

CREATE TABLE messages_v7 (
    msgid          VARCHAR NOT NULL,
    infno          VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    accepted       INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    response       VARCHAR NOT NULL,
    PRIMARY KEY (fixmedins_code, msgid)
);
INSERT INTO messages_v7 SELECT msgid, infno, fixmedins_code, source, received_at, accepted, rejected, response FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v7 RENAME TO messages;

-- hash is the hex SHA-256 of payload.
CREATE TABLE quarantine_payloads (
    hash    VARCHAR PRIMARY KEY,
    payload BLOB NOT NULL
);
INSERT INTO quarantine_payloads
SELECT DISTINCT sha256(payload), encode(payload) FROM quarantine WHERE payload <> '';

CREATE TABLE quarantine_v7 (
    id             BIGINT PRIMARY KEY,
    msgid          VARCHAR,
    infno          VARCHAR,
    fixmedins_code VARCHAR,
    source         VARCHAR NOT NULL,
    row_no         INTEGER NOT NULL,
    field          VARCHAR,
    reason         VARCHAR NOT NULL,
    payload_hash   VARCHAR,           -- quarantine_payloads.hash; NULL: no payload
    received_at    TIMESTAMP NOT NULL,
    resubmitted    BOOLEAN NOT NULL
);
INSERT INTO quarantine_v7
SELECT id, msgid, infno, fixmedins_code, source, row_no, field, reason,
       CASE WHEN payload <> '' THEN sha256(payload) END, received_at, resubmitted
FROM quarantine;
DROP TABLE quarantine;
ALTER TABLE quarantine_v7 RENAME TO quarantine;

CREATE TABLE dead_letters (
    id         BIGINT PRIMARY KEY,
    gen        BIGINT,            -- the journal position after the record (NULL: a
    off        BIGINT,            -- batch committed without the journal)
    record     BLOB NOT NULL,     -- the batch, encoded as a journal record's payload
    error      VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
