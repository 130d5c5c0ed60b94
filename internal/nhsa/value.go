package nhsa

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tracewatch"
	"tracewatch/internal/idno"
)

// The messages of row errors. They say what was expected and never quote the value.
const (
	msgRequired    = "required"
	msgRequiredSet = `required when mdtrt_setl_type is "1"`
	msgText        = "want a string"
	msgUTF8        = "want UTF-8 text (these bytes are not UTF-8: GBK or another encoding?)"
	msgObject      = "want an object"
	msgList        = "want an object or an array of objects"
	msgQty         = "want a decimal number with at most 4 decimals"
	msgQtyPositive = "want a quantity > 0"
	msgQtyNonNeg   = "want a quantity >= 0"
	msgAmount      = "want an amount in yuan >= 0 with at most 2 decimals"
	msgPrice       = "want a price in yuan >= 0 with at most 6 decimals"
	msgDate        = "want a date yyyy-MM-dd"
	msgDateTime    = "want a datetime yyyy-MM-dd HH:mm:ss"
	msgFlag        = `want "0" or "1"`
	msgSettleType  = `want "1" (insurance) or "2" (self-pay)`
	msgChangeType  = "want a stock change type 101..108"
	msgDataType    = "want a data type 1..4"
)

// row reads the fields of one input row and collects its errors.
type row struct {
	a        *arena // where the row's nested objects are read into
	fields   members
	path     string    // national path of the row: "selinfo", "selinfoDetail[2]", "data"
	n        int       // 1-based row number
	notAfter time.Time // the latest time the row may give (inf_time + Skew), zero when unknown
	errs     []RowError
}

// at is the national path of the field name in r.
func (r *row) at(name string) string {
	if r.path == "" {
		return name
	}
	return r.path + "." + name
}

func (r *row) fail(name, msg string) {
	r.errs = append(r.errs, RowError{Row: r.n, Field: r.at(name), Msg: msg})
}

// value returns the text of field name: a JSON string (trimmed) or the literal of a JSON
// number; "" when the field is absent, null or blank. ok is false, and the error
// recorded, when the field has another type, is longer than its limit or holds a
// control character (checkText).
func (r *row) value(name string) (s string, ok bool) {
	s, ok = textOf(r.fields.get(name))
	if !ok {
		r.fail(name, textProblem(r.fields.get(name)))
		return "", false
	}
	if msg := checkText(name, s); msg != "" {
		r.fail(name, msg)
		return "", false
	}
	return s, true
}

// text returns the text of an optional field.
func (r *row) text(name string) string {
	s, _ := r.value(name)
	return s
}

// texts checks the type of fields the domain does not keep.
func (r *row) texts(names ...string) {
	for _, n := range names {
		r.value(n)
	}
}

// required returns the text of a field that must be present.
func (r *row) required(name string) string {
	s, ok := r.value(name)
	if ok && s == "" {
		r.fail(name, msgRequired)
	}
	return s
}

// get returns the text of a field, recording "required" when it must be present and
// is not; ok reports a non-empty, well-typed value.
func (r *row) get(name string, required bool) (string, bool) {
	var s string
	if required {
		s = r.required(name)
	} else {
		s = r.text(name)
	}
	return s, s != ""
}

// qty reads a quantity: > 0, or >= 0 when zeroOK; at most MaxQty (MaxStock for the
// stocktake's inv_cnt).
func (r *row) qty(name string, required, zeroOK bool) tracewatch.Qty {
	s, ok := r.get(name, required)
	if !ok {
		return 0
	}
	max, msgMax := MaxQty, msgQtyMax
	if name == "inv_cnt" {
		max, msgMax = MaxStock, msgStockMax
	}
	q, err := tracewatch.ParseQty(s)
	switch {
	case err != nil:
		r.fail(name, msgQty)
	case q < 0 && zeroOK:
		r.fail(name, msgQtyNonNeg)
	case q < 0 || q == 0 && !zeroOK:
		r.fail(name, msgQtyPositive)
	case q > max:
		r.fail(name, msgMax)
	default:
		return q
	}
	return 0
}

// amount reads an amount of money in yuan (at most two decimals, trailing zeros aside),
// at most MaxAmount.
func (r *row) amount(name string) tracewatch.Fen {
	s, ok := r.get(name, false)
	if !ok {
		return 0
	}
	f, ok := parseYuan(s, 2)
	switch {
	case !ok:
		r.fail(name, msgAmount)
	case f > MaxAmount:
		r.fail(name, msgAmtMax)
	default:
		return f
	}
	return 0
}

// price reads a unit price in yuan: up to six decimals, rounded half-up to fen; at
// most MaxPrice.
func (r *row) price(name string) tracewatch.Fen {
	s, ok := r.get(name, false)
	if !ok {
		return 0
	}
	f, ok := parseYuan(s, 6)
	switch {
	case !ok:
		r.fail(name, msgPrice)
	case f > MaxPrice:
		r.fail(name, msgPriceMax)
	default:
		return f
	}
	return 0
}

// date reads a date; see parseTime for the forms accepted.
func (r *row) date(name string, required bool) time.Time {
	return r.when(name, required, msgDate)
}

// datetime reads a date and time; see parseTime for the forms accepted.
func (r *row) datetime(name string, required bool) time.Time {
	return r.when(name, required, msgDateTime)
}

// when reads a time: from 2000-01-01 until 2100-01-01 and, but for the times of
// mayBeFuture, not after r.notAfter. A time given but unreadable or out of bounds is an error, never replaced.
func (r *row) when(name string, required bool, msg string) time.Time {
	s, ok := r.get(name, required)
	if !ok {
		return time.Time{}
	}
	t, ok := parseTime(s)
	switch {
	case !ok:
		r.fail(name, msg)
	case t.Before(minTime) || !t.Before(maxTime):
		r.fail(name, msgTimeSpan)
	case !r.notAfter.IsZero() && t.After(r.notAfter) && !mayBeFuture[name]:
		r.fail(name, msgTimeLate)
	default:
		return t
	}
	return time.Time{}
}

// flag reads a 0/1 flag (trdn_flag).
func (r *row) flag(name string, required bool) bool {
	s, ok := r.get(name, required)
	if !ok {
		return false
	}
	if s != "0" && s != "1" {
		r.fail(name, msgFlag)
	}
	return s == "1"
}

// oneOf reads a coded field whose value must be one of allowed.
func (r *row) oneOf(name string, required bool, msg string, allowed ...string) string {
	s, ok := r.get(name, required)
	if !ok {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.fail(name, msg)
	return ""
}

// certno reads an ID number field and returns it masked.
func (r *row) certno(name string) string {
	return idno.Mask(r.text(name))
}

// codes reads the trace codes of a row: the drugtracinfo node (an array of
// {drug_trac_codg}, or one such object) and the legacy flat drug_trac_codg field, which
// may hold several codes separated by "," or ";" (ASCII or full-width). Identical raw
// strings are kept once, in first-seen order; blank entries of the flat field are
// dropped. Every drugtracinfo element must carry a code.
//
// A code may have at most MaxCodeLen characters and no control character, and a row at
// most MaxCodes codes.
func (r *row) codes() []tracewatch.EventCode {
	var raws []string
	if raw := r.fields.get("drugtracinfo"); !isNull(raw) {
		elems, paths, ok := split("drugtracinfo", raw, MaxCodes)
		switch {
		case !ok:
			r.fail("drugtracinfo", msgList)
		case len(elems) > MaxCodes:
			r.fail("drugtracinfo", msgCodes)
			return nil
		}
		for i, el := range elems {
			obj, ok := r.a.object(el)
			if !ok {
				r.fail(paths[i], msgObject)
				continue
			}
			c, ok := textOf(obj.get("drug_trac_codg"))
			switch {
			case !ok:
				r.fail(paths[i]+".drug_trac_codg", textProblem(obj.get("drug_trac_codg")))
			case c == "":
				r.fail(paths[i]+".drug_trac_codg", msgRequired)
			case checkLen(c, MaxCodeLen, gs) != "":
				r.fail(paths[i]+".drug_trac_codg", checkLen(c, MaxCodeLen, gs))
			default:
				raws = append(raws, c)
			}
		}
	}
	flat := strings.FieldsFunc(r.text("drug_trac_codg"), func(c rune) bool {
		return c == ',' || c == ';' || c == '，' || c == '；'
	})
	long := false
	for _, c := range flat {
		if c = strings.TrimSpace(c); c != "" {
			long = long || utf8.RuneCountInString(c) > MaxCodeLen
			raws = append(raws, c)
		}
	}
	if long {
		r.fail("drug_trac_codg", msgCodeLen)
	}
	if len(raws) > MaxCodes {
		r.fail("drugtracinfo", msgCodes)
		return nil
	}
	return eventCodes(raws)
}

// eventCodes turns raw codes into EventCodes, dropping repeats.
func eventCodes(raws []string) []tracewatch.EventCode {
	var out []tracewatch.EventCode
	seen := make(map[string]bool, len(raws))
	for _, c := range raws {
		if !seen[c] {
			seen[c] = true
			out = append(out, tracewatch.EventCode{Raw: c})
		}
	}
	return out
}

// textOf returns the text of a JSON value that should be a string: a string (trimmed),
// the literal of a number, or "" for an absent value or null. ok is false for any other
// type.
func textOf(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "", true
	}
	switch c := t[0]; {
	case c == '"':
		if !utf8.Valid(t) { // encoding/json would turn the bytes into U+FFFD: refuse instead
			return "", false
		}
		if s, ok := plainString(t); ok {
			return strings.TrimSpace(s), true
		}
		var s string
		if json.Unmarshal(t, &s) != nil {
			return "", false
		}
		return strings.TrimSpace(s), true
	case c == '-' || c >= '0' && c <= '9':
		if scanNumber(t, 0) != len(t) {
			return "", false
		}
		return string(t), true
	case bytes.Equal(t, []byte("null")):
		return "", true
	}
	return "", false
}

// textProblem says why textOf refused raw: bytes that are not UTF-8 (a client sending
// GBK: refused, so that the message is kept as received instead of stored garbled), or
// another JSON type.
func textProblem(raw json.RawMessage) string {
	if !utf8.Valid(raw) {
		return msgUTF8
	}
	return msgText
}

// plainString returns the content of a quoted JSON string that needs no unescaping: no
// backslash, no control character, valid UTF-8. ok is false otherwise (the caller then
// decodes it with encoding/json).
func plainString(t []byte) (string, bool) {
	if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return "", false
	}
	b := t[1 : len(t)-1]
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// The rows of NHSA messages are flat objects read field by field. object and split scan
// them once, handing out sub-slices, instead of validating the same bytes again with
// every nested json.Unmarshal (Decode validates the input once, up front, when the
// request did not come through DecodeRequest).

func skipWS(t []byte, i int) int {
	for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the offset after the string that starts at t[i] == '"', or -1.
func scanString(t []byte, i int) int {
	for j := i + 1; j < len(t); j++ {
		switch t[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// scanNumber returns the offset after the JSON number at t[i], or -1.
func scanNumber(t []byte, i int) int {
	j := i
	if j < len(t) && t[j] == '-' {
		j++
	}
	digits := func() bool {
		k := j
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(t) && t[j] == '0' {
		j++
	} else if !digits() {
		return -1
	}
	if j < len(t) && t[j] == '.' {
		j++
		if !digits() {
			return -1
		}
	}
	if j < len(t) && (t[j] == 'e' || t[j] == 'E') {
		j++
		if j < len(t) && (t[j] == '+' || t[j] == '-') {
			j++
		}
		if !digits() {
			return -1
		}
	}
	return j
}

// scanValue returns the offset after the JSON value at t[i], or -1 when it is malformed.
// Nested values are only delimited here; they are scanned again when read.
func scanValue(t []byte, i int) int {
	if i >= len(t) {
		return -1
	}
	switch c := t[i]; {
	case c == '"':
		return scanString(t, i)
	case c == '{' || c == '[':
		depth := 0
		for i < len(t) {
			switch t[i] {
			case '"':
				e := scanString(t, i)
				if e < 0 {
					return -1
				}
				i = e
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(t, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(t[i:], []byte(lit)) {
			return i + len(lit)
		}
	}
	return -1
}

// members are the members of a JSON object in their order. A slice, not a map: a row
// has a few dozen members and is read once, so building a map cost more than the
// lookups it saved (bulk ingest, issue 16).
type members []member

type member struct {
	name []byte // unescaped
	val  json.RawMessage
}

// get returns the value of the member called name, nil when absent; the last one wins
// when a name repeats, as with encoding/json.
func (m members) get(name string) json.RawMessage {
	for i := len(m) - 1; i >= 0; i-- {
		if string(m[i].name) == name {
			return m[i].val
		}
	}
	return nil
}

// An arena holds the members of the objects one message's decoding reads, one after
// the other: a slice of members made per object (2 KB for a row) was a tenth of a bulk
// ingest's CPU, with the collector's work on top. The members of an object stay valid
// until the arena goes back to the pool, which is when its message is decoded; nothing
// decoded keeps them (the events hold strings of their own).
type arena struct{ m []member }

var arenas = sync.Pool{New: func() any { return &arena{m: make([]member, 0, 256)} }}

func getArena() *arena { return arenas.Get().(*arena) }

func putArena(a *arena) {
	if cap(a.m) > 1<<14 { // a message far larger than most: let it go
		return
	}
	clear(a.m) // no input held by the pool
	a.m = a.m[:0]
	arenas.Put(a)
}

// object decodes a JSON object into its members.
func object(raw json.RawMessage) (members, bool) { return (*arena)(nil).object(raw) }

// object decodes a JSON object into its members, read into a (a nil arena: a slice of
// their own).
func (a *arena) object(raw json.RawMessage) (members, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var m members
	start := 0
	if a != nil {
		m, start = a.m, len(a.m)
	} else {
		// About one member per 20 bytes: a drugtracinfo element gets 2, a row a few dozen.
		m = make(members, 0, min(max(len(t)/20, 2), 40))
	}
	// done returns the members read, capped so that no append reaches into the arena.
	done := func(ok bool) (members, bool) {
		if !ok {
			m = m[:start]
		}
		if a != nil {
			a.m = m
		}
		if !ok {
			return nil, false
		}
		return m[start:len(m):len(m)], true
	}
	i := skipWS(t, 1)
	if i < len(t) && t[i] == '}' {
		return done(skipWS(t, i+1) == len(t))
	}
	for {
		if i >= len(t) || t[i] != '"' {
			return done(false)
		}
		e := scanString(t, i)
		if e < 0 {
			return done(false)
		}
		name := t[i+1 : e-1]
		if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) {
			var key string
			if json.Unmarshal(t[i:e], &key) != nil {
				return done(false)
			}
			name = []byte(key)
		}
		i = skipWS(t, e)
		if i >= len(t) || t[i] != ':' {
			return done(false)
		}
		i = skipWS(t, i+1)
		ve := scanValue(t, i)
		if ve < 0 {
			return done(false)
		}
		m = append(m, member{name, t[i:ve]})
		i = skipWS(t, ve)
		if i >= len(t) {
			return done(false)
		}
		switch t[i] {
		case ',':
			i = skipWS(t, i+1)
		case '}':
			return done(skipWS(t, i+1) == len(t))
		default:
			return done(false)
		}
	}
}

// split returns the rows of a node that is one object or an array, with their national
// paths: "node" for an object, "node[1]", "node[2]", … for the elements of an array.
// ok is false when the node is neither. An array of more than limit elements is read no
// further: split returns its first limit+1 elements, without paths, and ok.
func split(node string, raw json.RawMessage, limit int) (elems []json.RawMessage, paths []string, ok bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return nil, nil, false
	}
	switch t[0] {
	case '{':
		return []json.RawMessage{t}, []string{node}, true
	case '[':
		i := skipWS(t, 1)
		if i < len(t) && t[i] == ']' {
			return nil, nil, skipWS(t, i+1) == len(t)
		}
		for {
			ve := scanValue(t, i)
			if ve < 0 {
				return nil, nil, false
			}
			elems = append(elems, t[i:ve])
			if len(elems) > limit {
				return elems, nil, true
			}
			i = skipWS(t, ve)
			if i >= len(t) {
				return nil, nil, false
			}
			if t[i] == ']' {
				if skipWS(t, i+1) != len(t) {
					return nil, nil, false
				}
				break
			}
			if t[i] != ',' {
				return nil, nil, false
			}
			i = skipWS(t, i+1)
		}
		paths = make([]string, len(elems))
		for i := range elems {
			paths[i] = node + "[" + strconv.Itoa(i+1) + "]"
		}
		return elems, paths, true
	}
	return nil, nil, false
}

// parseYuan reads a non-negative amount in yuan with at most maxDec decimals after
// trailing zeros are dropped ("2.5000" is 2.50). Digits beyond the fen are rounded
// half-up.
func parseYuan(s string, maxDec int) (tracewatch.Fen, bool) {
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if len(frac) > maxDec {
		return 0, false
	}
	fen, rest := frac[:min(2, len(frac))], frac[min(2, len(frac)):]
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return 0, false
		}
	}
	head := whole
	if fen != "" {
		head += "." + fen
	}
	f, err := tracewatch.ParseYuan(head)
	if err != nil {
		return 0, false
	}
	if rest != "" && rest[0] >= '5' {
		f++
	}
	return f, true
}

// timeLayouts are the forms accepted for dates and datetimes: a datetime with a space
// or a "T", or a date alone (midnight).
var timeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

// parseTimeFast reads the plain forms of timeLayouts ("2025-03-01 09:30:05",
// "2025-03-01T09:30:05", "2025-03-01") without time.Parse, which costs a few
// microseconds a field in bulk ingest; ok is false for anything else, valid or not, so
// that parseTime falls back to time.Parse and keeps its exact judgement.
func parseTimeFast(s string) (time.Time, bool) {
	if len(s) != 10 && len(s) != 19 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d := num(0, 4), num(5, 2), num(8, 2)
	h, mi, sec := 0, 0, 0
	if len(s) == 19 {
		if s[10] != ' ' && s[10] != 'T' || s[13] != ':' || s[16] != ':' {
			return time.Time{}, false
		}
		h, mi, sec = num(11, 2), num(14, 2), num(17, 2)
	}
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, CST)
	if t.Day() != d { // 2025-02-30
		return time.Time{}, false
	}
	return t, true
}

// parseTime reads a national date or datetime in China Standard Time.
func parseTime(s string) (time.Time, bool) {
	if t, ok := parseTimeFast(s); ok {
		return t, true
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, CST); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
