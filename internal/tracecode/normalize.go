package tracecode

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// gs is the ASCII group separator, FNC1 as scanners transmit it.
const gs = 0x1d

// normalize applies the lossless normalizations: surrounding white space (including the
// ideographic space and a byte-order mark) is trimmed, full-width forms are folded to
// ASCII and the visible GS symbol U+241D becomes the GS control character. Nothing else is
// changed; in particular letter case is kept.
func normalize(raw string) (string, *Error) {
	clean := len(raw) > 0 && raw[0] != ' ' && raw[len(raw)-1] != ' '
	for i := 0; clean && i < len(raw); i++ {
		if c := raw[i]; c >= utf8.RuneSelf || (c < 0x20 && c != gs) {
			clean = false
		}
	}
	if clean {
		return raw, nil
	}
	s := strings.TrimFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 0xff01 && r <= 0xff5e: // full-width ASCII variants
			b.WriteByte(byte(r - 0xfee0))
		case r == 0x3000: // ideographic space
			b.WriteByte(' ')
		case r == 0x241d: // SYMBOL FOR GROUP SEPARATOR
			b.WriteByte(gs)
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
