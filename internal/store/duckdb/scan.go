package duckdb

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// columns names the destinations of a query's result columns: a row is read by what
// its columns are called (the AS names of the select list), never by their position, so
// that a select list and its scan cannot drift apart.
type columns map[string]any

// bind returns c's destinations in the order of rows' columns. Every column must have a
// destination and every destination a column; a mismatch is an error naming them.
func (c columns) bind(rows *sql.Rows) ([]any, error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	dest := make([]any, len(names))
	var missing []string
	for i, n := range names {
		d, ok := c[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		dest[i] = d
	}
	var unused []string
	for n := range c {
		if !slices.Contains(names, n) {
			unused = append(unused, n)
		}
	}
	if len(missing) > 0 || len(unused) > 0 {
		slices.Sort(unused)
		return nil, fmt.Errorf("result columns without a destination: [%s]; destinations without a column: [%s]",
			strings.Join(missing, ", "), strings.Join(unused, ", "))
	}
	return dest, nil
}

// with returns c and more in one map (more wins on a name both have).
func (c columns) with(more columns) columns {
	out := make(columns, len(c)+len(more))
	for n, d := range c {
		out[n] = d
	}
	for n, d := range more {
		out[n] = d
	}
	return out
}

// anyInt reads an integer a driver returned inside a LIST or STRUCT value (any of Go's
// integer types); anything else is 0.
func anyInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	case uint32:
		return int64(x)
	}
	return 0
}
