package duckdb

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	duckdbdrv "github.com/duckdb/duckdb-go/v2"

	"tracewatch"
)

// upsert writes rows into table through a staging copy: rows with a key already stored
// replace it. Within rows the last one of a key wins.
func (s *Store) upsert(ctx context.Context, op, table string, key []string, cols []string, rows [][]driver.Value) error {
	if len(rows) == 0 {
		return nil
	}
	// Last row of a key wins.
	nkey := len(key)
	seen := make(map[string]int, len(rows))
	uniq := rows[:0:0]
	for _, r := range rows {
		r = textArgs(r) // no text may fail the write (clean.go)
		var kb strings.Builder
		for i := 0; i < nkey; i++ {
			kb.WriteString(toString(r[i]))
			kb.WriteByte(0)
		}
		k := kb.String()
		if i, ok := seen[k]; ok {
			uniq[i] = r
			continue
		}
		seen[k] = len(uniq)
		uniq = append(uniq, r)
	}
	set := make([]string, 0, len(cols))
	for _, c := range cols[nkey:] {
		set = append(set, c+" = excluded."+c)
	}
	stage := "stage_" + table
	err := s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE `+stage+` AS SELECT `+strings.Join(cols, ", ")+` FROM `+table+` LIMIT 0`); err != nil {
			return err
		}
		if err := withAppender(conn, "temp", stage, func(a *duckdbdrv.Appender) error {
			for _, r := range uniq {
				if err := a.AppendRow(r...); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		q := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) SELECT * FROM ` + stage +
			` ON CONFLICT (` + strings.Join(key, ", ") + `) DO `
		if len(set) == 0 {
			q += `NOTHING`
		} else {
			q += `UPDATE SET ` + strings.Join(set, ", ")
		}
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, `DROP TABLE `+stage)
		return err
	}})
	if err != nil {
		return tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return nil
}

func toString(v driver.Value) string { return fmt.Sprint(v) }

func nullStr(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(n int) driver.Value {
	if n == 0 {
		return nil
	}
	return int32(n)
}

// UpsertRegions implements tracewatch.Store.
func (s *Store) UpsertRegions(ctx context.Context, rows []tracewatch.RegionInfo) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{string(r.Code), r.Name, nullStr(string(r.Parent))}
	}
	return s.upsert(ctx, "duckdb.UpsertRegions", "regions", []string{"admdvs"}, []string{"admdvs", "name", "parent"}, vals)
}

// UpsertInstitutions implements tracewatch.Store.
func (s *Store) UpsertInstitutions(ctx context.Context, rows []tracewatch.Institution) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{r.Code, r.Name, string(r.Type), string(r.Region), nullStr(r.Level), nullStr(r.Chain), nullStr(formatAgreements(r.Agreements))}
	}
	return s.upsert(ctx, "duckdb.UpsertInstitutions", "institutions", []string{"fixmedins_code"},
		[]string{"fixmedins_code", "name", "type", "admdvs", "level", "chain", "agreements"}, vals)
}

// UpsertPersons implements tracewatch.Store.
func (s *Store) UpsertPersons(ctx context.Context, rows []tracewatch.Person) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{r.PsnNo, nullStr(r.CertnoMasked), nullStr(r.CertnoHash), nullStr(r.Name), nullStr(r.Gender),
			nullDate(r.Birth), nullStr(string(r.Region)), nullStr(r.InsuType), nullDate(r.Death), nullStr(strings.Join(r.Chronic, ";"))}
	}
	return s.upsert(ctx, "duckdb.UpsertPersons", "persons", []string{"psn_no"},
		[]string{"psn_no", "certno_masked", "certno_hash", "name", "gender", "birth", "admdvs", "insutype", "death", "chronic"}, vals)
}

// UpsertPractitioners implements tracewatch.Store.
func (s *Store) UpsertPractitioners(ctx context.Context, rows []tracewatch.Practitioner) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{r.ID, nullStr(r.Name), nullStr(r.Kind), nullStr(r.Institution), nullStr(r.Status)}
	}
	return s.upsert(ctx, "duckdb.UpsertPractitioners", "practitioners", []string{"prac_id"},
		[]string{"prac_id", "name", "kind", "fixmedins_code", "status"}, vals)
}

// UpsertDrugs implements tracewatch.Store.
func (s *Store) UpsertDrugs(ctx context.Context, rows []tracewatch.Drug) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{r.Code, r.Name, nullStr(r.Spec), r.PackContent, int64(r.Price), r.Reimbursable, nullStr(r.Kind),
			nullStr(r.GenderLimit), nullInt(r.MinAge), nullInt(r.MaxAge), nullInt(r.MaxDays), nullStr(r.Restriction)}
	}
	err := s.upsert(ctx, "duckdb.UpsertDrugs", "drugs", []string{"med_list_codg"},
		[]string{"med_list_codg", "name", "spec", "pack_content", "price_fen", "reimbursable", "kind", "gender_limit", "min_age", "max_age", "max_days", "restriction"}, vals)
	if err == nil {
		s.writer.submit(ctx, &request{job: func(context.Context, *sql.Conn) error { s.writer.packs = nil; return nil }})
	}
	return err
}

// UpsertCodeMappings implements tracewatch.Store. A level the row does not state is
// kept unknown (0), not taken as 1.
func (s *Store) UpsertCodeMappings(ctx context.Context, rows []tracewatch.CodeMapping) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{r.ProductID, r.DrugCode, nullStr(r.CommodityCode), int32(max(r.PackLevel, 0))}
	}
	return s.upsert(ctx, "duckdb.UpsertCodeMappings", "codemap", []string{"product_id"},
		[]string{"product_id", "med_list_codg", "commodity_code", "pack_level"}, vals)
}

// UpsertPackageLinks implements tracewatch.Store. Codes are tracecode keys.
func (s *Store) UpsertPackageLinks(ctx context.Context, rows []tracewatch.PackageLink) error {
	const op = "duckdb.UpsertPackageLinks"
	if len(rows) == 0 {
		return nil
	}
	return s.writer.submit(ctx, &request{job: func(ctx context.Context, conn *sql.Conn) error {
		w := s.writer
		var newDict [][2]driver.Value
		id := func(key string) int64 {
			c, isNew := w.codeID(key)
			if isNew {
				newDict = append(newDict, [2]driver.Value{int64(c), key})
			}
			return int64(c)
		}
		if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE stage_packages AS SELECT * FROM packages LIMIT 0`); err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		err := withAppender(conn, "temp", "stage_packages", func(a *duckdbdrv.Appender) error {
			// A pack lies in one parent (docs/data-formats.md): the last row of a
			// child wins.
			last := map[int64]int{}
			links := make([][2]int64, len(rows))
			for i, r := range rows {
				links[i] = [2]int64{id(r.Parent), id(r.Child)}
				last[links[i][1]] = i
			}
			for i, p := range links {
				if last[p[1]] != i {
					continue
				}
				if err := a.AppendRow(p[0], p[1]); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil && len(newDict) > 0 {
			err = withAppender(conn, "", "code_dict", func(a *duckdbdrv.Appender) error {
				for _, d := range newDict {
					if err := a.AppendRow(d[0], d[1]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err == nil { // reloading a child moves it
			_, err = conn.ExecContext(ctx, `DELETE FROM packages WHERE child_id IN (SELECT child_id FROM stage_packages)`)
		}
		if err == nil {
			_, err = conn.ExecContext(ctx, `INSERT INTO packages SELECT * FROM stage_packages`)
		}
		if err == nil {
			_, err = conn.ExecContext(ctx, `DROP TABLE stage_packages`)
		}
		if err != nil {
			return tracewatch.E(op, tracewatch.KindInternal, err)
		}
		return nil
	}})
}

// UpsertDrugLimits implements tracewatch.Store: a drug's row replaces its stored row
// whole, so a limit the new row leaves at zero is cleared.
func (s *Store) UpsertDrugLimits(ctx context.Context, rows []tracewatch.DrugLimit) error {
	vals := make([][]driver.Value, len(rows))
	for i, r := range rows {
		vals[i] = []driver.Value{r.DrugCode, nullStr(r.Gender), nullInt(r.MinAge), nullInt(r.MaxAge), nullInt(r.MaxDays),
			nullQty(r.DailyDose), nullQty(r.MaxQty), nullInt(r.PeriodDays), nullStr(r.InstitutionLevel),
			nullStr(strings.Join(r.Scenes, "|")), nullStr(r.Basis), nullFen(r.PriceCeiling), nullStr(r.KeyDrug)}
	}
	return s.upsert(ctx, "duckdb.UpsertDrugLimits", "drug_limits", []string{"med_list_codg"}, strings.Split(drugLimitCols, ", "), vals)
}

const drugLimitCols = `med_list_codg, gender, min_age, max_age, max_days, daily_dose, max_qty, period_days, hosp_lv, scenes, basis, price_ceiling, key_drug`

// nullFen stores an amount of 0 (none known) as NULL.
func nullFen(f tracewatch.Fen) driver.Value {
	if f == 0 {
		return nil
	}
	return int64(f)
}

func nullQty(q tracewatch.Qty) driver.Value {
	if q == 0 {
		return nil
	}
	return int64(q)
}

// DrugLimits implements tracewatch.Store: the knowledge base, by drug code.
func (s *Store) DrugLimits(ctx context.Context) ([]tracewatch.DrugLimit, error) {
	const op = "duckdb.DrugLimits"
	rows, err := s.db.QueryContext(ctx, `SELECT `+drugLimitCols+` FROM drug_limits ORDER BY med_list_codg`)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.DrugLimit
	for rows.Next() {
		var l tracewatch.DrugLimit
		var gender, level, scenes, basis, key sql.NullString
		var minAge, maxAge, maxDays, period, dose, qty, ceiling sql.NullInt64
		if err := rows.Scan(&l.DrugCode, &gender, &minAge, &maxAge, &maxDays, &dose, &qty, &period, &level, &scenes, &basis, &ceiling, &key); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		l.Gender, l.InstitutionLevel, l.Basis = gender.String, level.String, basis.String
		l.MinAge, l.MaxAge, l.MaxDays, l.PeriodDays = int(minAge.Int64), int(maxAge.Int64), int(maxDays.Int64), int(period.Int64)
		l.DailyDose, l.MaxQty = tracewatch.Qty(dose.Int64), tracewatch.Qty(qty.Int64)
		l.PriceCeiling, l.KeyDrug = tracewatch.Fen(ceiling.Int64), key.String
		if scenes.String != "" {
			l.Scenes = strings.Split(scenes.String, "|")
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}

func formatAgreements(as []tracewatch.Agreement) string {
	var parts []string
	for _, a := range as {
		p := string(a.Status) + ":" + a.From.Format("2006-01-02")
		if !a.To.IsZero() {
			p += ":" + a.To.Format("2006-01-02")
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ";")
}

var cst = tracewatch.Beijing

func parseAgreements(s string) []tracewatch.Agreement {
	var out []tracewatch.Agreement
	for _, p := range strings.Split(s, ";") {
		f := strings.Split(p, ":")
		if len(f) < 2 {
			continue
		}
		a := tracewatch.Agreement{Status: tracewatch.AgreementStatus(f[0])}
		a.From, _ = time.ParseInLocation("2006-01-02", f[1], cst)
		if len(f) > 2 {
			a.To, _ = time.ParseInLocation("2006-01-02", f[2], cst)
		}
		out = append(out, a)
	}
	return out
}

// Institution implements tracewatch.Store.
func (s *Store) Institution(ctx context.Context, code string) (tracewatch.Institution, error) {
	in, err := scanInstitution(s.db.QueryRowContext(ctx, `SELECT `+institutionCols+` FROM institutions WHERE fixmedins_code = ?`, text(code)))
	if err != nil {
		return in, notFound("duckdb.Institution", "institution "+code, err)
	}
	return in, nil
}

const institutionCols = `fixmedins_code, name, type, admdvs, level, chain, agreements`

func scanInstitution(sc interface{ Scan(...any) error }) (tracewatch.Institution, error) {
	var in tracewatch.Institution
	var typ, region string
	var level, chain, agr sql.NullString
	if err := sc.Scan(&in.Code, &in.Name, &typ, &region, &level, &chain, &agr); err != nil {
		return in, err
	}
	in.Type, in.Region, in.Level, in.Chain = tracewatch.InstitutionType(typ), tracewatch.Region(region), level.String, chain.String
	in.Agreements = parseAgreements(agr.String)
	return in, nil
}

// Drug implements tracewatch.Store.
func (s *Store) Drug(ctx context.Context, code string) (tracewatch.Drug, error) {
	d, err := scanDrug(s.db.QueryRowContext(ctx, `SELECT `+drugCols+` FROM drugs WHERE med_list_codg = ?`, text(code)))
	if err != nil {
		return d, notFound("duckdb.Drug", "drug "+code, err)
	}
	return d, nil
}

const drugCols = `med_list_codg, name, spec, pack_content, price_fen, reimbursable, kind, gender_limit, min_age, max_age, max_days, restriction`

func scanDrug(sc interface{ Scan(...any) error }) (tracewatch.Drug, error) {
	var d tracewatch.Drug
	var spec, kind, gl, restr sql.NullString
	var minAge, maxAge, maxDays sql.NullInt64
	var price int64
	if err := sc.Scan(&d.Code, &d.Name, &spec, &d.PackContent, &price, &d.Reimbursable, &kind, &gl, &minAge, &maxAge, &maxDays, &restr); err != nil {
		return d, err
	}
	d.Spec, d.Kind, d.GenderLimit, d.Restriction = spec.String, kind.String, gl.String, restr.String
	d.Price = tracewatch.Fen(price)
	d.MinAge, d.MaxAge, d.MaxDays = int(minAge.Int64), int(maxAge.Int64), int(maxDays.Int64)
	return d, nil
}

// CodeMappings implements tracewatch.Store.
func (s *Store) CodeMappings(ctx context.Context) (map[string]tracewatch.CodeMapping, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT product_id, med_list_codg, commodity_code, pack_level FROM codemap`)
	if err != nil {
		return nil, tracewatch.E("duckdb.CodeMappings", tracewatch.KindInternal, err)
	}
	defer rows.Close()
	out := map[string]tracewatch.CodeMapping{}
	for rows.Next() {
		var m tracewatch.CodeMapping
		var cc sql.NullString
		if err := rows.Scan(&m.ProductID, &m.DrugCode, &cc, &m.PackLevel); err != nil {
			return nil, tracewatch.E("duckdb.CodeMappings", tracewatch.KindInternal, err)
		}
		m.CommodityCode = cc.String
		out[m.ProductID] = m
	}
	return out, rows.Err()
}

// DrugPackContents implements tracewatch.Store.
func (s *Store) DrugPackContents(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT med_list_codg, pack_content FROM drugs`)
	if err != nil {
		return nil, tracewatch.E("duckdb.DrugPackContents", tracewatch.KindInternal, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var d string
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return nil, tracewatch.E("duckdb.DrugPackContents", tracewatch.KindInternal, err)
		}
		out[d] = n
	}
	return out, rows.Err()
}

// PackageChildren implements tracewatch.Store: the child keys of each parent key.
// Bulk ingest asks for the cartons of every message, so it runs few and plain queries:
// the links alone (joining code_dict made each query 3–5 times slower), and the
// dictionary only for the identities that are not packed NMPA codes.
func (s *Store) PackageChildren(ctx context.Context, parents []string) (map[string][]string, error) {
	const op = "duckdb.PackageChildren"
	out := map[string][]string{}
	ids := make([]int64, 0, len(parents))
	keyOf := map[int64]string{}
	var dictKeys []string
	asked := map[string]string{} // stored text of a dictionary key → the key asked for
	for _, p := range parents {
		if id, ok := tracewatch.PackedCodeID(p); ok {
			ids = append(ids, int64(id))
			keyOf[int64(id)] = p
		} else {
			dictKeys = append(dictKeys, text(p))
			asked[text(p)] = p
		}
	}
	err := dictEntries(ctx, s.db, "code_key", dictKeys, func(id int64, key string) {
		ids = append(ids, id)
		keyOf[id] = asked[key]
	})
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	type link struct{ parent, child int64 }
	var links []link
	err = inLists(ids, func(list string, args []any) error {
		rows, err := s.db.QueryContext(ctx, `SELECT parent_id, child_id FROM packages WHERE parent_id IN (`+list+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l link
			if err := rows.Scan(&l.parent, &l.child); err != nil {
				return err
			}
			links = append(links, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	slices.SortFunc(links, func(a, b link) int {
		if c := cmp.Compare(a.parent, b.parent); c != 0 {
			return c
		}
		return cmp.Compare(a.child, b.child)
	})
	childKey := map[int64]string{}
	var inDict []int64
	for _, l := range links {
		if k, ok := tracewatch.KeyOfPackedID(tracewatch.CodeID(l.child)); ok {
			childKey[l.child] = k
		} else {
			inDict = append(inDict, l.child)
		}
	}
	err = dictEntries(ctx, s.db, "code_id", inDict, func(id int64, key string) { childKey[id] = key })
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	for _, l := range links {
		p := keyOf[l.parent]
		out[p] = append(out[p], childKey[l.child]) // "" for a child whose identity is unknown, as before
	}
	return out, nil
}

// dictEntries calls fn with each code_dict row whose column col ("code_key" or
// "code_id") is one of vals.
func dictEntries[T any](ctx context.Context, db *sql.DB, col string, vals []T, fn func(id int64, key string)) error {
	return inLists(vals, func(list string, args []any) error {
		rows, err := db.QueryContext(ctx, `SELECT code_id, code_key FROM code_dict WHERE `+col+` IN (`+list+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				return err
			}
			fn(id, key)
		}
		return rows.Err()
	})
}

// packedSQL is the 19 trailing digits of a packed NMPA code id column (the inverse of
// tracewatch.PackedCodeID), as a HUGEINT; its key is '8' and those digits, and its
// product id (药品标识码) '8' and their first 6.
func packedSQL(col string) string {
	return `(CAST(` + col + ` AS HUGEINT) + 9223372036854775808)`
}

// productNumSQL is packedSQL(col) // 10^13, the 6 digits of the code's product id after
// its leading 8, computed in BIGINT: 2^63 is 922337·10^13 + 2036854775808, so the
// quotient is col's floored quotient plus 922337, plus one when col's floored remainder
// and 2036854775808 carry past 10^13. DuckDB's HUGEINT division took a second per 5
// million package rows; this takes 50 ms.
func productNumSQL(col string) string {
	const d = "10000000000000"
	neg := `CASE WHEN ` + col + ` % ` + d + ` < 0 THEN 1 ELSE 0 END` // // and % truncate
	return `(` + col + ` // ` + d + ` - ` + neg + ` + 922337 + CASE WHEN ` + col + ` % ` + d + ` + ` + neg + ` * ` + d +
		` >= 7963145224192 THEN 1 ELSE 0 END)`
}

// packOrdersSQL lists, per pair of distinct product ids (pprod above cprod) whose codes a
// packages row links, the least such row (pkey, then ckey) and the number of rows (links):
// the facts that prove one product id's package level above another's. Rows of NMPA
// codes (packed ids, nearly all) are grouped by number, where the id order is the key
// order; the few rows with a dictionary code by their keys. A product id starting with 8
// has packed codes only, so the two parts share no pair.
var packOrdersSQL = `WITH nm AS MATERIALIZED (
    SELECT ` + productNumSQL("parent_id") + ` AS pp, ` + productNumSQL("child_id") + ` AS cp, parent_id, child_id
    FROM packages WHERE parent_id < ` + firstDictID + ` AND child_id < ` + firstDictID + `),
ng AS (SELECT pp, cp, count(*) AS links, min(parent_id) AS pid FROM nm WHERE pp <> cp GROUP BY pp, cp),
dk AS (
    SELECT ` + keyOfIDSQL("p.parent_id", "pd") + ` AS pkey, ` + keyOfIDSQL("p.child_id", "cd") + ` AS ckey
    FROM packages p LEFT JOIN code_dict pd ON pd.code_id = p.parent_id LEFT JOIN code_dict cd ON cd.code_id = p.child_id
    WHERE p.parent_id >= ` + firstDictID + ` OR p.child_id >= ` + firstDictID + `),
dp AS (SELECT pkey, ckey, ` + productOfKeySQL("pkey") + ` AS pprod, ` + productOfKeySQL("ckey") + ` AS cprod FROM dk)
SELECT '8' || lpad(CAST(ng.pp AS VARCHAR), 6, '0') AS pprod, '8' || lpad(CAST(ng.cp AS VARCHAR), 6, '0') AS cprod,
       '8' || lpad(CAST(` + packedSQL("ng.pid") + ` AS VARCHAR), 19, '0') AS pkey,
       '8' || lpad(CAST(` + packedSQL("min(nm.child_id)") + ` AS VARCHAR), 19, '0') AS ckey, ng.links
FROM ng JOIN nm ON nm.pp = ng.pp AND nm.cp = ng.cp AND nm.parent_id = ng.pid
GROUP BY ng.pp, ng.cp, ng.pid, ng.links
UNION ALL
SELECT pprod, cprod, min(pkey), arg_min(ckey, pkey || ' ' || ckey), count(*)
FROM dp WHERE pprod <> '' AND cprod <> '' AND pprod <> cprod GROUP BY pprod, cprod`

var firstDictID = fmt.Sprint(int64(tracewatch.FirstDictCodeID))

// PackOrders returns what the package links prove about product ids (tracewatch.PackOrder):
// every pair of distinct product ids whose codes a packages row links, parent first, with
// the least row that proves it; ordered by parent, then child product id. Ingest expands
// scanned codes of the parent product ids; T5 compares the links against them.
func (s *Store) PackOrders(ctx context.Context) ([]tracewatch.PackOrder, error) {
	const op = "duckdb.PackOrders"
	if err := s.await(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (`+packOrdersSQL+`) o ORDER BY pprod, cprod`)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.PackOrder
	for rows.Next() {
		var o tracewatch.PackOrder
		if err := rows.Scan(&o.Parent, &o.Child, &o.Link.Parent, &o.Link.Child, &o.Links); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}

// lookupCodeID returns the id of a key, or 0 when the key has never been stored.
func (s *Store) lookupCodeID(ctx context.Context, key string) (tracewatch.CodeID, error) {
	if id, ok := tracewatch.PackedCodeID(key); ok {
		return id, nil
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT code_id FROM code_dict WHERE code_key = ?`, text(key)).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, tracewatch.E("duckdb.lookupCodeID", tracewatch.KindInternal, err)
	}
	return tracewatch.CodeID(id), nil
}

// keyOf returns the key of a code id.
func (s *Store) keyOf(ctx context.Context, id tracewatch.CodeID) (string, error) {
	if k, ok := tracewatch.KeyOfPackedID(id); ok {
		return k, nil
	}
	var k string
	err := s.db.QueryRowContext(ctx, `SELECT code_key FROM code_dict WHERE code_id = ?`, int64(id)).Scan(&k)
	return k, err
}

// nullDate stores a calendar date (a DATE column): the day t has in its own location
// (refload reads dates as midnight Asia/Shanghai), not the day of its UTC instant.
func nullDate(t time.Time) driver.Value {
	if t.IsZero() {
		return nil
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
