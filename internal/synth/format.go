package synth

// Byte-append formatting of the values in messages and CSV files. Generation writes
// hundreds of megabytes, so these avoid fmt and time.Format.

const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

func append2(b []byte, v int) []byte {
	return append(b, digits2[2*v], digits2[2*v+1])
}

// appendPadded appends v in decimal, zero-padded to width digits (more when needed).
func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [24]byte
	i := len(tmp)
	for v >= 100 {
		q := v / 100
		r := int(v - q*100)
		i -= 2
		tmp[i], tmp[i+1] = digits2[2*r], digits2[2*r+1]
		v = q
	}
	if v >= 10 {
		i -= 2
		tmp[i], tmp[i+1] = digits2[2*v], digits2[2*v+1]
	} else {
		i--
		tmp[i] = byte('0' + v)
	}
	for len(tmp)-i < width {
		i--
		tmp[i] = '0'
	}
	return append(b, tmp[i:]...)
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	return appendPadded(b, uint64(v), 1)
}

// appendDate appends the day number as yyyy-mm-dd.
func appendDate(b []byte, day int32) []byte {
	y, m, d := civilFromDays(day)
	b = append2(b, y/100)
	b = append2(b, y%100)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, d)
}

// appendCompact appends the day number as yyyymmdd.
func appendCompact(b []byte, day int32) []byte {
	y, m, d := civilFromDays(day)
	b = append2(b, y/100)
	b = append2(b, y%100)
	b = append2(b, m)
	return append2(b, d)
}

// clock renders the times of the window: t is seconds since the first midnight.
type clock struct {
	start   int32    // day number of the first day
	dash    [][]byte // per day: "2025-07-01"
	compact [][]byte // per day: "20250701"
}

func newClock(start int32, days int) *clock {
	c := &clock{start: start}
	for i := range days + 1 {
		c.dash = append(c.dash, appendDate(nil, start+int32(i)))
		c.compact = append(c.compact, appendCompact(nil, start+int32(i)))
	}
	return c
}

// appendTime appends "yyyy-mm-dd HH:MM:SS".
func (c *clock) appendTime(b []byte, t int64) []byte {
	day, s := int(t/86400), int(t%86400)
	b = append(b, c.dash[day]...)
	b = append(b, ' ')
	b = append2(b, s/3600)
	b = append(b, ':')
	b = append2(b, s/60%60)
	b = append(b, ':')
	return append2(b, s%60)
}

// appendStamp appends "yyyyMMddHHmmss".
func (c *clock) appendStamp(b []byte, t int64) []byte {
	day, s := int(t/86400), int(t%86400)
	b = append(b, c.compact[day]...)
	b = append2(b, s/3600)
	b = append2(b, s/60%60)
	return append2(b, s%60)
}

// appendYuan appends an amount in fen as yuan with two decimals ("12.60").
func appendYuan(b []byte, fen int64) []byte {
	if fen < 0 {
		b = append(b, '-')
		fen = -fen
	}
	b = appendPadded(b, uint64(fen/100), 1)
	b = append(b, '.')
	return append2(b, int(fen%100))
}

// appendPrice4 appends a price in 1/10000 yuan with four decimals ("0.5250").
func appendPrice4(b []byte, v int64) []byte {
	b = appendPadded(b, uint64(v/10000), 1)
	b = append(b, '.')
	return appendPadded(b, uint64(v%10000), 4)
}

// appendHundredths appends v/100 with two decimals (quantities such as inv_cnt).
func appendHundredths(b []byte, v int64) []byte { return appendYuan(b, v) }

// The JSON written here never needs escaping: the tables hold no quote, backslash or
// control character (a test checks every line with json.Valid).

// trimComma drops a trailing comma before a closing brace.
func trimComma(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == ',' {
		return b[:n-1]
	}
	return b
}

// csvField appends a CSV field, quoted when it holds a comma, quote or line break.
func csvField(b []byte, s string) []byte {
	need := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			need = true
			break
		}
	}
	if !need {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// csvRow appends the fields as one CSV line.
func csvRow(b []byte, fields ...string) []byte {
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = csvField(b, f)
	}
	return append(b, '\n')
}
