package tracecode

import (
	"strings"
)

// isDigitalLink reports whether s starts like a GS1 Digital Link URI. The scheme must be
// all lower or all upper case, as GS1 specifies; a mixed-case scheme is not a URI here.
func isDigitalLink(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") ||
		strings.HasPrefix(s, "HTTPS://") || strings.HasPrefix(s, "HTTP://")
}

// uriChar marks the characters allowed anywhere in a URI (RFC 3986 unreserved, reserved
// and "%").
var uriChar [256]bool

func init() {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%" {
		uriChar[c] = true
	}
}

// convenienceAlphas are the deprecated Digital Link path names of key and qualifier AIs.
var convenienceAlphas = map[string]string{
	"sscc": "00", "gtin": "01", "lot": "10", "ser": "21", "cpv": "22",
	"gdti": "253", "glnx": "254", "gcn": "255", "ginc": "401", "gsin": "402",
	"gln": "414", "payTo": "415", "grai": "8003", "giai": "8004", "itip": "8006",
	"cpid": "8010", "cpsn": "8011", "gsrnp": "8017", "gsrn": "8018", "srin": "8019",
}

func (o Options) gs1FromDigitalLink(s string) (Code, *Error) {
	els, err := o.parseDigitalLink(s)
	if err != nil {
		return Code{}, err
	}
	return gs1Code(els, s)
}

// parseDigitalLink decodes a GS1 Digital Link URI into its elements: the primary key and
// qualifiers from the end of the path, then the data attributes of the query string.
func (o Options) parseDigitalLink(s string) ([]element, *Error) {
	for i := 0; i < len(s); i++ {
		if !uriChar[s[i]] {
			return nil, errAt(ErrBadCharset, s, i, "character not allowed in a URI")
		}
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			return nil, errAt(ErrBadFormat, s, i, "\"%%\" must be followed by two hex digits")
		}
	}
	if !isDigitalLink(s) {
		return nil, errAt(ErrBadFormat, s, 0, "a Digital Link URI starts with http:// or https://")
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	start := strings.Index(s, "://") + 3
	slash := strings.IndexByte(s[start:], '/')
	if slash < 0 {
		return nil, errAt(ErrBadFormat, s, -1, "a Digital Link URI needs a path with a GS1 key, e.g. /01/{gtin}/21/{serial}")
	}
	if e := checkAuthority(s[start : start+slash]); e != nil {
		return nil, shift(e, s[start:start+slash], s, start)
	}
	pathStart := start + slash
	path, query, _ := strings.Cut(s[pathStart:], "?")

	// Path: [stem…]/key/value[/qualifier/value…], read from the end.
	segs := strings.Split(path[1:], "/")
	offs := make([]int, len(segs))
	off := pathStart + 1
	for i, seg := range segs {
		if seg == "" {
			return nil, errAt(ErrBadFormat, s, off, "empty path segment")
		}
		offs[i] = off
		off += len(seg) + 1
	}
	var path2 []element // key first, then qualifiers in path order
	keyAt := -1
	for i := len(segs) - 2; i >= 0; i -= 2 {
		ai := o.pathAI(segs[i])
		spec := aiTable[ai]
		if spec == nil || (!spec.dlKey && !dlQualifier[ai]) {
			break
		}
		path2 = append(path2, element{Element{ai, segs[i+1]}, offs[i+1], spec})
		if spec.dlKey {
			keyAt = i
			break
		}
	}
	if keyAt < 0 {
		return nil, errAt(ErrBadFormat, s, pathStart, "no GS1 primary key (01, 00, 8004, …) with its value at the end of the path")
	}
	for l, r := 0, len(path2)-1; l < r; l, r = l+1, r-1 {
		path2[l], path2[r] = path2[r], path2[l]
	}
	key := path2[0].spec
	quals := make([]string, 0, len(path2)-1)
	for _, el := range path2[1:] {
		quals = append(quals, el.AI)
	}
	if !validQualifiers(key, quals) {
		return nil, errAt(ErrBadFormat, s, path2[0].off, "qualifiers %v are not allowed after key (%s), or are out of order", quals, key.ai)
	}
	els := path2
	for i := range els {
		v, ok := percentDecode(els[i].Value, false)
		if !ok {
			return nil, errAt(ErrBadFormat, s, els[i].off, "bad percent-encoding")
		}
		els[i].Value = o.padGTIN(els[i].AI, v)
	}

	// Query: data attributes; non-numeric parameters are not GS1 data and are ignored.
	qoff := pathStart + len(path) + 1
	for _, p := range strings.Split(query, "&") {
		poff := qoff
		qoff += len(p) + 1
		k, v, hasEq := strings.Cut(p, "=")
		if p == "" || !hasEq || k == "" || !allDigits(k) {
			continue
		}
		spec := aiTable[k]
		if spec == nil {
			if !o.PermitUnknownAIs || len(k) < 2 || len(k) > 4 || extendsKnownAI(k) {
				return nil, errAt(ErrUnknownAI, s, poff, "(%s) is not a known GS1 Application Identifier", k)
			}
			u := *unknownSpec
			u.ai = k
			spec = &u
		}
		if v == "" {
			return nil, errAt(ErrBadFormat, s, poff, "AI (%s) has no value", k)
		}
		if validQualifiers(key, append(quals[:len(quals):len(quals)], k)) {
			return nil, errAt(ErrBadFormat, s, poff, "(%s) qualifies key (%s): it belongs in the path, not the query", k, key.ai)
		}
		dv, ok := percentDecode(v, true)
		if !ok {
			return nil, errAt(ErrBadFormat, s, poff, "bad percent-encoding")
		}
		els = append(els, element{Element{k, o.padGTIN(k, dv)}, poff + len(k) + 1, spec})
	}

	for i, el := range els {
		for _, prev := range els[:i] {
			if prev.AI == el.AI {
				return nil, errAt(ErrBadFormat, s, el.off, "AI (%s) given twice", el.AI)
			}
		}
		if e := el.spec.checkValue(el.Value); e != nil {
			return nil, errAt(e.code, s, el.off, "%s", e.msg)
		}
	}
	return els, nil
}

// pathAI resolves a path segment to an AI: numeric, or a convenience alpha when permitted.
func (o Options) pathAI(seg string) string {
	if len(seg) >= 2 && len(seg) <= 4 && allDigits(seg) {
		return seg
	}
	if o.PermitConvenienceAlphas {
		return convenienceAlphas[seg]
	}
	return ""
}

// padGTIN restores the leading zeros of a zero-suppressed GTIN-8, -12 or -13.
func (o Options) padGTIN(ai, v string) string {
	if (ai == "01" || ai == "02") && o.PermitZeroSuppressedGTIN && (len(v) == 8 || len(v) == 12 || len(v) == 13) && allDigits(v) {
		return padGTIN(v)
	}
	return v
}

// validQualifiers reports whether quals is an ordered selection from one of the key's
// qualifier sequences.
func validQualifiers(key *aiSpec, quals []string) bool {
	if len(quals) == 0 {
		return true
	}
	for _, seq := range key.dlQuals {
		j := 0
		for _, q := range seq {
			if j < len(quals) && quals[j] == q {
				j++
			}
		}
		if j == len(quals) {
			return true
		}
	}
	return false
}

// checkAuthority accepts a host name, an IPv4 address or a bracketed IPv6 address, with
// an optional port.
func checkAuthority(a string) *Error {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return errAt(ErrBadFormat, a, 0, "unclosed IPv6 address")
		}
		for i := 1; i < end; i++ {
			if c := a[i]; !isHex(c) && c != ':' && c != '.' {
				return errAt(ErrBadFormat, a, i, "not allowed in an IPv6 address")
			}
		}
		host, port = a[:end+1], a[end+1:]
		if port != "" && port[0] != ':' {
			return errAt(ErrBadFormat, a, end+1, "unexpected character after the IPv6 address")
		}
	} else {
		if i := strings.IndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i:]
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; !(c-'0' <= 9 || (c|0x20)-'a' < 26 || c == '-' || c == '.') {
				return errAt(ErrBadFormat, a, i, "not allowed in a host name")
			}
		}
	}
	if host == "" || host == "[]" {
		return errAt(ErrBadFormat, a, -1, "the URI has no host")
	}
	if port != "" && (len(port) == 1 || !allDigits(port[1:])) {
		return errAt(ErrBadFormat, a, len(host), "bad port")
	}
	return nil
}

func isHex(c byte) bool { return c-'0' <= 9 || (c|0x20)-'a' < 6 }

func unhex(c byte) byte {
	if c-'0' <= 9 {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}

// percentDecode decodes %XX escapes; in a query, "+" stands for a space.
func percentDecode(v string, query bool) (string, bool) {
	if strings.IndexByte(v, '%') < 0 && (!query || strings.IndexByte(v, '+') < 0) {
		return v, true
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '%':
			if i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) {
				return "", false
			}
			b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
		case c == '+' && query:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}
