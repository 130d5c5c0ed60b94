-- The knowledge base's price ceiling and key-drug category (issue 15: C14
-- claims.over_price 超标准收费, C11 claims.key_drug 重点药品监测; docs/data-formats.md
-- "drug_limits"): price_ceiling is the 挂网价 in fen per sales pack, NULL when none is
-- known; key_drug is resale, high_value or vbp_alternative, NULL when the drug is not a
-- key drug. Rows loaded before keep NULL in both.
ALTER TABLE drug_limits ADD COLUMN IF NOT EXISTS price_ceiling BIGINT;
ALTER TABLE drug_limits ADD COLUMN IF NOT EXISTS key_drug VARCHAR;
