package duckdb

import (
	"context"
	"database/sql"
	"strconv"

	"tracewatch"
)

// FillScreenLoad writes a synthetic screening load of n sale lines straight into an
// empty store with SQL, for `tracewatch bench screen` (P2/P4): generating 10^7 lines
// through NHSA messages and the ingest path would measure the ingest, not the screen.
//
// The load: n/2,000 institutions over 11 cities of one province and a neighbour; 500
// drugs (packs of 6–60); every sale line sells one 20-digit code, bought by its seller
// in a purchase of 10 codes before the sale; 90 % of the sellers scan all inbound codes,
// the others 70 %. Planted in it, by the line number modulo 1,000: 5 ‰ of the codes are
// sold again at another institution (T1), 2 ‰ billed as another drug (T2), 2 ‰ sold
// without a purchase (T3), 1 ‰ expired at sale (T4); 3 % of the lines are split-pack
// sales of half a pack whose other half is sold too (a near miss of T1, a hit of B0).
// Messages, settlements and the quarantine stay empty. The ledger is rebuilt at the end.
// fillChunk is the number of lines FillScreenLoad writes per transaction.
const fillChunk = 5_000_000

func (s *Store) FillScreenLoad(ctx context.Context, n int64) error {
	const op = "duckdb.FillScreenLoad"
	if n < 1000 {
		n = 1000
	}
	insts := max(n/2000, 10)
	refQ := fillRefSQL(strconv.FormatInt(insts, 10))
	macros := `
CREATE OR REPLACE TEMP MACRO inst_code(i) AS 'P' || CASE WHEN i % 50 = 0 THEN '4301' ELSE '36' || lpad(CAST(1 + i % 11 AS VARCHAR), 2, '0') END || '01' || lpad(CAST(i AS VARCHAR), 5, '0');
CREATE OR REPLACE TEMP MACRO drug_code(d) AS 'XA01AAA' || lpad(CAST(d AS VARCHAR), 3, '0') || 'A001010100001';`
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		var events int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
			return err
		}
		if events > 0 {
			return tracewatch.Errorf(op, tracewatch.KindConflict, "the store is not empty")
		}
		if _, err := conn.ExecContext(ctx, macros); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, refQ)
		return err
	}})
	for lo := int64(0); err == nil && lo < n; lo += fillChunk {
		q := fillChunkSQL(strconv.FormatInt(n, 10), strconv.FormatInt(insts, 10), strconv.FormatInt(lo, 10), strconv.FormatInt(min(lo+fillChunk, n), 10))
		err = s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
			if _, err := conn.ExecContext(ctx, macros); err != nil {
				return err
			}
			_, err := conn.ExecContext(ctx, q)
			return err
		}})
	}
	if err == nil {
		err = s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
			return rebuild(ctx, conn)
		}})
	}
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// fillRefSQL is FillScreenLoad's reference data for insts institutions (a decimal).
func fillRefSQL(insts string) string {
	return `
INSERT INTO regions SELECT '36' || lpad(CAST(c AS VARCHAR), 2, '0') || '00', 'city ' || c, '360000' FROM range(1, 12) t(c);
INSERT INTO regions VALUES ('360000', 'province', NULL), ('430000', 'neighbour', NULL), ('430100', 'neighbour city', '430000');
INSERT INTO institutions
SELECT 'P' || CASE WHEN i % 50 = 0 THEN '4301' ELSE '36' || lpad(CAST(1 + i % 11 AS VARCHAR), 2, '0') END || '01' || lpad(CAST(i AS VARCHAR), 5, '0'),
       'pharmacy ' || i, 'pharmacy',
       CASE WHEN i % 50 = 0 THEN '430102' ELSE '36' || lpad(CAST(1 + i % 11 AS VARCHAR), 2, '0') || '02' END, NULL, NULL, NULL
FROM range(0, ` + insts + `) t(i);
INSERT INTO drugs
SELECT 'XA01AAA' || lpad(CAST(d AS VARCHAR), 3, '0') || 'A001010100001', 'drug ' || d, NULL, 6 + (d * 7) % 55,
       500 + (d * 37) % 5000, true, 'western', NULL, NULL, NULL, NULL, NULL
FROM range(0, 500) t(d);
INSERT INTO codemap VALUES ('8100000', 'XA01AAA000A001010100001', NULL, 1);

`
}

// fillChunkSQL is FillScreenLoad's lines lo up to hi of n, at insts institutions (all
// decimals the caller formats).
func fillChunkSQL(n, insts, lo, hi string) string {
	return `
CREATE TEMP TABLE load_lines AS
SELECT i,
       -9223372036854775808 + 1000000000000000000 + i AS code_id,
       i % ` + insts + ` AS inst,
       (i * 2654435761) % 500 AS drug,
       TIMESTAMP '2025-07-01 00:00:00' + to_seconds(CAST(i * 7776000 // ` + n + ` AS BIGINT)) AS t
FROM range(` + lo + `, ` + hi + `) t(i);

-- Purchases: one event per 10 consecutive lines of a seller's codes (lines i with equal
-- i // 10 share a purchase only when they share the seller, so use per-line events for
-- simplicity: one purchase event per line, 10 lines per msgid).
INSERT INTO events (event_id, msgid, line, infno, kind, fixmedins_code, med_list_codg, qty, split_pack, unit_price_fen,
                    amount_fen, fund_paid_fen, event_time)
SELECT i, 'PUR' || (i // 10), CAST(i % 10 AS INTEGER) + 1, '3503', 'purchase', inst_code(inst), drug_code(drug), 10000, false, 0, 0, 0,
       t - INTERVAL '2 days'
FROM load_lines;
INSERT INTO event_codes (event_id, code_id, raw, code_kind, pack_level, med_list_codg, event_kind, fixmedins_code, event_time)
SELECT i, code_id, '', 'nmpa20', 1, drug_code(drug), 'purchase', inst_code(inst), t - INTERVAL '2 days'
FROM load_lines
WHERE i % 1000 NOT IN (7, 8)                       -- T3: 2 ‰ never purchased
  AND NOT (inst % 10 = 9 AND (i * 31) % 10 < 3);   -- sellers scanning 70 % of inbound

-- Sales: every line once (insured, settled).
INSERT INTO events (event_id, msgid, line, infno, kind, fixmedins_code, med_list_codg, expires, qty, split_pack, unit_price_fen,
                    amount_fen, fund_paid_fen, event_time, receipt, setl_id, psn_no, settle_type)
SELECT ` + n + ` + i, 'SAL' || i, 1, '3505', 'sale', inst_code(inst),
       CASE WHEN i % 1000 IN (11, 12) THEN drug_code((drug + 1) % 500) ELSE drug_code(drug) END,
       CASE WHEN i % 1000 = 13 THEN t - INTERVAL '3 days' ELSE t + INTERVAL '400 days' END,
       CASE WHEN i % 100 < 3 THEN 30000 ELSE 10000 END, i % 100 < 3, 1000, 1000, 0, t,
       'R' || i, 'S' || i, 'PSN' || (i % 1000003), '1'
FROM load_lines;
INSERT INTO event_codes (event_id, code_id, raw, code_kind, pack_level, med_list_codg, event_kind, fixmedins_code, event_time)
SELECT ` + n + ` + i, code_id, '', 'nmpa20', 1, drug_code(drug), 'sale', inst_code(inst), t FROM load_lines;

-- Second halves of the split packs (same seller, a day later) and the resales (5 ‰, at
-- the next institution, a week later).
INSERT INTO events (event_id, msgid, line, infno, kind, fixmedins_code, med_list_codg, qty, split_pack, unit_price_fen,
                    amount_fen, fund_paid_fen, event_time, receipt, setl_id, psn_no, settle_type)
SELECT 2 * ` + n + ` + i, 'SAL2-' || i, 1, '3505', 'sale',
       CASE WHEN i % 100 < 3 THEN inst_code(inst) ELSE inst_code((inst + 1) % ` + insts + `) END, drug_code(drug),
       CASE WHEN i % 100 < 3 THEN 30000 ELSE 10000 END, i % 100 < 3, 1000, 1000, 0,
       t + CASE WHEN i % 100 < 3 THEN INTERVAL '1 day' ELSE INTERVAL '7 days' END,
       'R2-' || i, 'S2-' || i, 'PSN' || ((i + 7) % 1000003), '1'
FROM load_lines WHERE i % 100 < 3 OR i % 1000 IN (21, 22, 23, 24, 25);
INSERT INTO event_codes (event_id, code_id, raw, code_kind, pack_level, med_list_codg, event_kind, fixmedins_code, event_time)
SELECT 2 * ` + n + ` + i, code_id, '', 'nmpa20', 1, drug_code(drug), 'sale',
       CASE WHEN i % 100 < 3 THEN inst_code(inst) ELSE inst_code((inst + 1) % ` + insts + `) END,
       t + CASE WHEN i % 100 < 3 THEN INTERVAL '1 day' ELSE INTERVAL '7 days' END
FROM load_lines WHERE i % 100 < 3 OR i % 1000 IN (21, 22, 23, 24, 25);
DROP TABLE load_lines;
`
}
