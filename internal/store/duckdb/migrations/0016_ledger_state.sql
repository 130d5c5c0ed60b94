-- Whether sale_codes and the ledger lag behind the facts: set before a bulk load that
-- defers them (Store.DeferLedger), cleared in the transaction of the rebuild that brings
-- them up to date (Store.CatchUpLedger). A store opened with it set (a load that
-- crashed) is brought up to date by Open.
CREATE TABLE IF NOT EXISTS ledger_state (
    behind BOOLEAN NOT NULL
);
INSERT INTO ledger_state SELECT false WHERE NOT EXISTS (SELECT 1 FROM ledger_state);
