package duckdb

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"tracewatch"
)

// GangRing is one ring FillGangLoad planted: its members' psn_no, in order.
type GangRing struct {
	Persons []string
}

// FillGangLoad writes a synthetic load of n insured settlements straight into an empty
// store with SQL, for `tracewatch bench gang` (C10 at scale): one insured 3505 sale per
// settlement (a province that uploads sales only), over 90 days from 2025-07-01, at
// n/2,000 institutions of fillRefSQL's province, by n/5 persons who buy at their home
// institution nine times in ten, mostly two or three drugs of their own, at any time of
// the opening hours. Planted in it: n/20,000 rings of 3 to 50 members (persons outside
// the honest ones) who each buy the ring's drug at the ring's institution within the
// same 50 minutes on six days (GangLoadRings lists them); the last member of every fifth
// ring also buys with the next ring, a bridge that joins the two into one connected group.
func (s *Store) FillGangLoad(ctx context.Context, n int64) error {
	const op = "duckdb.FillGangLoad"
	if n < 1000 {
		n = 1000
	}
	insts := max(n/2000, 10)
	persons := max(n/5, 100)
	nRings := max(n/20000, 1)
	ns, is, ps := strconv.FormatInt(n, 10), strconv.FormatInt(insts, 10), strconv.FormatInt(persons, 10)
	macros := `
CREATE OR REPLACE TEMP MACRO inst_code(i) AS 'P' || CASE WHEN i % 50 = 0 THEN '4301' ELSE '36' || lpad(CAST(1 + i % 11 AS VARCHAR), 2, '0') END || '01' || lpad(CAST(i AS VARCHAR), 5, '0');
CREATE OR REPLACE TEMP MACRO drug_code(d) AS 'XA01AAA' || lpad(CAST(d AS VARCHAR), 3, '0') || 'A001010100001';`
	honest := `
INSERT INTO events (event_id, msgid, line, infno, kind, fixmedins_code, med_list_codg, qty, split_pack, unit_price_fen,
                    amount_fen, fund_paid_fen, event_time, receipt, setl_id, psn_no, settle_type)
SELECT i, 'GS' || i, 1, '3505', 'sale',
       inst_code(CASE WHEN i % 10 = 0 THEN (psn * 7 + i) % ` + is + ` ELSE psn % ` + is + ` END),
       drug_code(((psn // ` + is + `) * 31 + (i % 3)) % 500), 10000, false, 1500, 1500, 1000,
       TIMESTAMP '2025-07-01 00:00:00' + to_seconds(CAST((i * 90 // ` + ns + `) * 86400 + 28800 + (i * 48271) % 43200 AS BIGINT)),
       'R' || i, 'S' || i, 'PSN' || psn, '1'
FROM (SELECT i, (i * 2654435761) % ` + ps + ` AS psn FROM range(@LO@, @HI@) t(i));`
	ring := `
INSERT INTO events (event_id, msgid, line, infno, kind, fixmedins_code, med_list_codg, qty, split_pack, unit_price_fen,
                    amount_fen, fund_paid_fen, event_time, receipt, setl_id, psn_no, settle_type)
SELECT 2 * ` + ns + ` + r * 1000 + k * 64 + m, 'GR' || r || '-' || k || '-' || m, 1, '3505', 'sale',
       inst_code((r * 131) % ` + is + `), drug_code((r * 17) % 500), 10000, false, 1500, 1500, 1000,
       TIMESTAMP '2025-07-01 00:00:00' + to_seconds(CAST(((r * 13 + k * 11) % 88) * 86400 + 36000 + (m * 37) % 3000 AS BIGINT)),
       'RR' || r || '-' || k || '-' || m, 'SR' || r || '-' || k || '-' || m, 'PSN' || (` + ps + ` + r * 64 + m), '1'
FROM range(0, ` + strconv.FormatInt(nRings, 10) + `) a(r), range(0, 6) b(k), range(0, 50) c(m)
WHERE m < 3 + (r * 7919) % 48
UNION ALL -- every fifth ring's last member also buys with the next ring: a bridge
SELECT 3 * ` + ns + ` + r * 8 + k, 'GB' || r || '-' || k, 1, '3505', 'sale',
       inst_code(((r + 1) * 131) % ` + is + `), drug_code(((r + 1) * 17) % 500), 10000, false, 1500, 1500, 1000,
       TIMESTAMP '2025-07-01 00:00:00' + to_seconds(CAST((((r + 1) * 13 + k * 11) % 88) * 86400 + 36000 + 3300 AS BIGINT)),
       'RB' || r || '-' || k, 'SB' || r || '-' || k, 'PSN' || (` + ps + ` + r * 64 + 2 + (r * 7919) % 48), '1'
FROM range(0, ` + strconv.FormatInt(nRings-1, 10) + `) a(r), range(0, 6) b(k)
WHERE r % 5 = 0;`
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
		if _, err := conn.ExecContext(ctx, fillRefSQL(is)); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, ring)
		return err
	}})
	for lo := int64(0); err == nil && lo < n; lo += fillChunk {
		q := strings.NewReplacer("@LO@", strconv.FormatInt(lo, 10), "@HI@", strconv.FormatInt(min(lo+fillChunk, n), 10)).Replace(honest)
		err = s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
			if _, err := conn.ExecContext(ctx, macros); err != nil {
				return err
			}
			_, err := conn.ExecContext(ctx, q)
			return err
		}})
	}
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

// GangLoadRings returns the rings FillGangLoad plants in a load of n settlements.
func GangLoadRings(n int64) []GangRing {
	n = max(n, 1000)
	persons, nRings := max(n/5, 100), max(n/20000, 1)
	var rings []GangRing
	for r := range nRings {
		var g GangRing
		for m := range 3 + (r*7919)%48 {
			g.Persons = append(g.Persons, "PSN"+strconv.FormatInt(persons+r*64+m, 10))
		}
		rings = append(rings, g)
	}
	return rings
}
