package duckdb

import (
	"context"
	"encoding/hex"

	"tracewatch"
)

// InstitutionKeys lists the credentials of one institution, revoked ones included (the
// server's resubmission refuses an institution without a valid key:
// server.KeyLister).
func (s *Store) InstitutionKeys(ctx context.Context, institution string) ([]tracewatch.InstitutionKey, error) {
	const op = "duckdb.InstitutionKeys"
	rows, err := s.db.QueryContext(ctx, `SELECT paasid, fixmedins_code, secret_enc, created_at, revoked FROM institution_keys
WHERE fixmedins_code = ? ORDER BY created_at, paasid`, institution)
	if err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	defer rows.Close()
	var out []tracewatch.InstitutionKey
	for rows.Next() {
		var k tracewatch.InstitutionKey
		var enc string
		if err := rows.Scan(&k.PaasID, &k.Institution, &enc, &k.Created, &k.Revoked); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		if k.SecretEnc, err = hex.DecodeString(enc); err != nil {
			return nil, tracewatch.E(op, tracewatch.KindInternal, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, tracewatch.E(op, tracewatch.KindInternal, err)
	}
	return out, nil
}
