-- No in-memory keys on the tables that grow with every sale (issue 16, ADR-0004).
--
-- DuckDB keeps a PRIMARY KEY as an ART index that must fit in memory while it is built
-- and updated. At 10^8 sale lines the keys of messages, sale_codes and the ledger alone
-- were more than the 4 GB budget (docs/BENCHMARKS.md, P4). The writer is the only
-- writer of these tables and keeps each key unique itself: it joins a commit's keys with
-- the stored rows (a hash join that spills), appends the new rows and updates the others.
--
-- messages.key_hash is the lower 64 bits of md5(fixmedins_code || '|' || msgid), as
-- md5_number_lower computes them and writer.go's messageHash does, read as a signed
-- BIGINT: the writer finds the stored messages of a commit by this one narrow column,
-- then compares the keys exactly.

CREATE TABLE messages_v15 (
    msgid          VARCHAR NOT NULL,
    infno          VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    accepted       INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    response       VARCHAR NOT NULL,
    key_hash       BIGINT NOT NULL
);
INSERT INTO messages_v15
SELECT msgid, infno, fixmedins_code, source, received_at, accepted, rejected, response,
       CAST(CASE WHEN h >= 9223372036854775808 THEN CAST(h AS HUGEINT) - 18446744073709551616 ELSE h END AS BIGINT)
FROM (SELECT *, md5_number_lower(fixmedins_code || '|' || msgid) AS h FROM messages) m;
DROP TABLE messages;
ALTER TABLE messages_v15 RENAME TO messages;

CREATE TABLE sale_codes_v15 (
    code_id        BIGINT NOT NULL,
    sale_id        VARCHAR NOT NULL,
    fixmedins_code VARCHAR NOT NULL,
    event_time     TIMESTAMP,
    whole          BIGINT NOT NULL,   -- +1 a whole pack sold, -1 returned or cancelled
    split_qty      BIGINT NOT NULL    -- ± minimum units (1/10000) of a split-pack sale
);
INSERT INTO sale_codes_v15 SELECT code_id, sale_id, fixmedins_code, event_time, whole, split_qty FROM sale_codes;
DROP TABLE sale_codes;
ALTER TABLE sale_codes_v15 RENAME TO sale_codes;

CREATE TABLE ledger_v15 (
    code_id      BIGINT NOT NULL,
    sold_whole   BIGINT NOT NULL,
    sold_split   BIGINT NOT NULL,
    pack_content BIGINT NOT NULL,
    sales        INTEGER NOT NULL,
    returns      INTEGER NOT NULL,
    first_seller VARCHAR,
    first_sale   TIMESTAMP,
    last_sale    TIMESTAMP,
    received     INTEGER NOT NULL
);
INSERT INTO ledger_v15 SELECT code_id, sold_whole, sold_split, pack_content, sales, returns, first_seller, first_sale, last_sale, received FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_v15 RENAME TO ledger;
