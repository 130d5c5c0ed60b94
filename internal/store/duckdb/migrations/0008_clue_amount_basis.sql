-- The basis of a clue's amount (issue 11): 'fund' (医保基金支付, the settlement known),
-- 'sale' (销售金额, finl_trns_pric × quantity, the settlement unknown) or '' (neither
-- known, the amount is 0). Clues stored before this migration read as ''.
-- (DuckDB adds no column with a constraint: NULL reads as '' too. IF NOT EXISTS: a test
-- takes a store back to version 6 and migrates it again.)
ALTER TABLE clues ADD COLUMN IF NOT EXISTS amount_basis VARCHAR DEFAULT '';
