package tracewatch

// Region is a pooling region (统筹区 / 医保区划, admdvs): a 6-digit GB/T 2260 code.
// The province is its first 2 digits, the city its first 4.
type Region string

// ParseRegion validates a 6-digit region code.
func ParseRegion(s string) (Region, error) {
	if len(s) != 6 {
		return "", Errorf("tracewatch.ParseRegion", KindInvalid, "region code %q: want 6 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", Errorf("tracewatch.ParseRegion", KindInvalid, "region code %q: want 6 digits", s)
		}
	}
	if s[:2] == "00" {
		return "", Errorf("tracewatch.ParseRegion", KindInvalid, "region code %q: no province 00", s)
	}
	return Region(s), nil
}

// Province returns the province-level region (e.g. 360000 for 360102).
func (r Region) Province() Region { return r.level(2) }

// City returns the city-level region (e.g. 360100 for 360102).
func (r Region) City() Region { return r.level(4) }

func (r Region) level(n int) Region {
	if len(r) != 6 {
		return r
	}
	return r[:n] + Region("000000"[n:])
}

// Contains reports whether o lies within r (a province contains its cities and counties,
// a city its counties, and every region contains itself).
func (r Region) Contains(o Region) bool {
	if len(r) != 6 || len(o) != 6 {
		return false
	}
	switch {
	case r[2:] == "0000":
		return r[:2] == o[:2]
	case r[4:] == "00":
		return r[:4] == o[:4]
	}
	return r == o
}
