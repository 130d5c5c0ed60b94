package tracecode

import (
	"strings"
	"time"
)

// element is an Element with the byte offset of its AI in the parsed text (or -1).
type element struct {
	Element
	off  int
	spec *aiSpec
}

func isFNC1(c byte) bool { return c == gs || c == '^' }

// parseElementString reads the unbracketed element string full[start:], in which FNC1
// separators are GS (0x1D) or '^'. Offsets in errors refer to full.
func parseElementString(full string, start int) ([]element, *Error) {
	if start >= len(full) {
		return nil, errAt(ErrEmpty, full, -1, "GS1 data is empty")
	}
	els := make([]element, 0, 4)
	i := start
	for i < len(full) {
		if isFNC1(full[i]) {
			return nil, errAt(ErrBadFormat, full, i, "two separators in a row: an AI was expected")
		}
		spec := lookupAI(full[i:])
		if spec == nil {
			return nil, unknownAIError(full, i)
		}
		vs := i + len(spec.ai)
		ve := len(full)
		if j := strings.IndexAny(full[vs:], "\x1d^"); j >= 0 {
			ve = vs + j
		}
		if spec.predefined {
			if ve-vs < spec.maxLen {
				return nil, errAt(ErrBadLength, full, vs, "AI (%s) %s takes %d characters, found %d", spec.ai, spec.title, spec.maxLen, ve-vs)
			}
			ve = vs + spec.maxLen
		}
		v := full[vs:ve]
		if e := spec.checkValue(v); e != nil {
			return nil, errAt(e.code, full, vs+e.off, "%s", e.msg)
		}
		els = append(els, element{Element{spec.ai, v}, i, spec})
		i = ve
		if i < len(full) && isFNC1(full[i]) {
			i++ // a separator ends a variable-length value; after a fixed one it is tolerated
		}
	}
	if len(els) == 0 {
		return nil, errAt(ErrEmpty, full, -1, "GS1 data is empty")
	}
	return els, nil
}

func unknownAIError(full string, i int) *Error {
	n := 0
	for n < 4 && i+n < len(full) && full[i+n]-'0' <= 9 {
		n++
	}
	if n < 2 {
		return errAt(ErrBadFormat, full, i, "a GS1 Application Identifier (2–4 digits) was expected")
	}
	return errAt(ErrUnknownAI, full, i, "no known GS1 Application Identifier starts with %s", full[i:i+n])
}

// parseBracketed reads the human-readable form "(01)…(21)…", where "\(" stands for a
// literal "(" in data. Spaces around the brackets, as people type them, are ignored.
func (o Options) parseBracketed(s string) ([]element, *Error) {
	els := make([]element, 0, 4)
	i := 0
	for i < len(s) {
		if s[i] != '(' {
			return nil, errAt(ErrBadFormat, s, i, "expected \"(\" to open an AI")
		}
		j := strings.IndexByte(s[i:], ')')
		if j < 0 {
			return nil, errAt(ErrBadFormat, s, i, "unclosed \"(\"")
		}
		ai := s[i+1 : i+j]
		if len(ai) < 2 || len(ai) > 4 || !allDigits(ai) {
			return nil, errAt(ErrBadFormat, s, i+1, "an AI is 2 to 4 digits, got %q", ai)
		}
		spec := aiTable[ai]
		if spec == nil {
			if !o.PermitUnknownAIs || extendsKnownAI(ai) {
				return nil, errAt(ErrUnknownAI, s, i+1, "(%s) is not a known GS1 Application Identifier", ai)
			}
			u := *unknownSpec
			u.ai = ai
			spec = &u
		}
		vs := i + j + 1
		for vs < len(s) && s[vs] == ' ' {
			vs++
		}
		// The value runs to the next unescaped "(".
		ve := vs
		escaped := false
		for ve < len(s) && s[ve] != '(' {
			if s[ve] == '\\' && ve+1 < len(s) && s[ve+1] == '(' {
				escaped = true
				ve++
			}
			ve++
		}
		next := ve
		for ve > vs && s[ve-1] == ' ' && next < len(s) {
			ve--
		}
		v := s[vs:ve]
		if escaped {
			v = strings.ReplaceAll(v, `\(`, "(")
		}
		if v == "" {
			return nil, errAt(ErrBadFormat, s, i, "AI (%s) has no value", ai)
		}
		if e := spec.checkValue(v); e != nil {
			off := vs + e.off
			if escaped {
				off = vs
			}
			return nil, errAt(e.code, s, off, "%s", e.msg)
		}
		els = append(els, element{Element{ai, v}, i, spec})
		i = next
	}
	if len(els) == 0 {
		return nil, errAt(ErrEmpty, s, -1, "GS1 data is empty")
	}
	return els, nil
}

// checkDuplicates refuses an AI given twice with different values.
func checkDuplicates(els []element, s string) *Error {
	for i := 1; i < len(els); i++ {
		for j := 0; j < i; j++ {
			if els[i].AI == els[j].AI && els[i].Value != els[j].Value {
				return errAt(ErrBadFormat, s, els[i].off, "AI (%s) appears twice with different values", els[i].AI)
			}
		}
	}
	return nil
}

func gs1FromElementString(full string, start int) (Code, *Error) {
	els, err := parseElementString(full, start)
	if err != nil {
		return Code{}, err
	}
	return gs1Code(els, full)
}

func (o Options) gs1FromBracketed(s string) (Code, *Error) {
	els, err := o.parseBracketed(s)
	if err != nil {
		return Code{}, err
	}
	return gs1Code(els, s)
}

// gs1Code turns validated elements into a trace code: the identity is GTIN (01) + serial
// (21). s is the parsed text, for error positions.
func gs1Code(els []element, s string) (Code, *Error) {
	if e := checkDuplicates(els, s); e != nil {
		return Code{}, e
	}
	c := Code{Kind: KindGS1, Verified: true, Elements: make([]Element, len(els))}
	for i, el := range els {
		c.Elements[i] = el.Element
		switch el.AI {
		case "01":
			c.GTIN = el.Value
		case "21":
			c.Serial = el.Value
		case "10":
			c.Batch = el.Value
		case "17":
			c.Expiry = gs1Date(el.Value, true)
		case "11":
			c.Produced = gs1Date(el.Value, false)
		}
	}
	if c.GTIN == "" {
		what := "GS1 data without a GTIN (01)"
		for _, el := range els {
			switch el.AI {
			case "00":
				what = "an SSCC (00) logistics label"
			case "02":
				what = "a logistic unit's content GTIN (02)"
			}
		}
		return c, errAt(ErrNotTraceCode, s, -1, "%s does not identify a sales pack", what)
	}
	if c.Serial == "" {
		for _, el := range els {
			if !el.spec.predefined && el.AI != "01" && strings.Contains(el.Value, "21") {
				return c, errAt(ErrBadFormat, s, el.off,
					"no serial number (21), but the value of (%s) %q contains \"21\": a GS separator was probably lost after (%s)",
					el.AI, el.Value, el.AI)
			}
		}
		return c, errAt(ErrNotTraceCode, s, -1, "GTIN %s without a serial number (21) identifies a product, not one pack", c.GTIN)
	}
	c.ProductID = c.GTIN
	c.Key = "(01)" + c.GTIN + "(21)" + escapeBracketed(c.Serial)
	return c, nil
}

// gs1Date converts a validated YYMMDD value. Day 00 means "month only": the last day of
// the month for an expiry (the conservative reading), the first day otherwise. Two-digit
// years are 20YY (docs/adr/0001-gs1-two-digit-years.md).
func gs1Date(v string, expiry bool) Date {
	y := 2000 + twoDigits(v, 0)
	m := twoDigits(v, 2)
	d := twoDigits(v, 4)
	if d == 0 {
		d = 1
		if expiry {
			d = time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		}
	}
	return Date{Year: y, Month: time.Month(m), Day: d}
}

func escapeBracketed(v string) string {
	if strings.IndexByte(v, '(') < 0 {
		return v
	}
	return strings.ReplaceAll(v, "(", `\(`)
}

// bracketed formats elements in the human-readable form "(01)…(21)…".
func bracketed(els []Element) string {
	var b strings.Builder
	for _, el := range els {
		b.WriteByte('(')
		b.WriteString(el.AI)
		b.WriteByte(')')
		b.WriteString(escapeBracketed(el.Value))
	}
	return b.String()
}

// elementString formats elements as an unbracketed element string with "^" for FNC1: a
// leading "^", and a separator after every element whose AI has no predefined length,
// except the last.
func elementString(els []Element) string {
	var b strings.Builder
	b.WriteByte('^')
	for i, el := range els {
		b.WriteString(el.AI)
		b.WriteString(el.Value)
		if i < len(els)-1 {
			if spec := aiTable[el.AI]; spec == nil || !spec.predefined {
				b.WriteByte('^')
			}
		}
	}
	return b.String()
}
