-- How far the journal (docs/adr/0003-write-path.md) has been applied: the end of the last
-- record whose rows are in the tables, updated in the same transaction as those rows.
CREATE TABLE journal_state (
    gen BIGINT NOT NULL, -- segment generation (journal/<gen>.log)
    off BIGINT NOT NULL  -- byte offset inside it
);
INSERT INTO journal_state VALUES (0, 0);
