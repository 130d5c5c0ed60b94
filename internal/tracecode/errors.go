package tracecode

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrCode is the stable, machine-readable reason a scan is not a usable trace code.
// The values are a public contract (CLI JSON, API answers, stored quarantine rows):
// add new ones, never rename.
type ErrCode string

// The stable error codes.
const (
	ErrEmpty         ErrCode = "empty"           // nothing was scanned
	ErrNotTraceCode  ErrCode = "not_trace_code"  // a real barcode, but not a pack-level trace code (商品码, bare GTIN, SSCC, GS1 without serial)
	ErrBadCheckDigit ErrCode = "bad_check_digit" // a GS1 mod-10 check digit is wrong
	ErrBadCharset    ErrCode = "bad_charset"     // a character outside the allowed set
	ErrBadLength     ErrCode = "bad_length"      // too short or too long for its kind or field
	ErrBadDate       ErrCode = "bad_date"        // an impossible date (month 13, 30 February, …)
	ErrUnknownAI     ErrCode = "unknown_ai"      // a GS1 Application Identifier that is not known (or not decoded here)
	ErrBadFormat     ErrCode = "bad_format"      // anything else that breaks the syntax of the kind
)

// Error explains why a scan was refused. Pos is the 1-based character position of the
// offending part in the input after trimming and full-width folding, or 0 when the
// problem is the input as a whole.
type Error struct {
	Code ErrCode
	Pos  int
	Msg  string
}

func (e *Error) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("tracecode: %s at %d: %s", e.Code, e.Pos, e.Msg)
	}
	return fmt.Sprintf("tracecode: %s: %s", e.Code, e.Msg)
}

// CodeOf returns the stable code of err when it is (or wraps) an *Error, and "" otherwise.
func CodeOf(err error) ErrCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// errAt builds an *Error whose position is the byte offset off in s (converted to a
// 1-based rune position); off < 0 means no position.
func errAt(code ErrCode, s string, off int, format string, args ...any) *Error {
	pos := 0
	if off >= 0 {
		if off > len(s) {
			off = len(s)
		}
		pos = utf8.RuneCountInString(s[:off]) + 1
	}
	return &Error{Code: code, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// shift moves an error found inside a sub-string that starts at byte offset base of s.
func shift(err *Error, sub, s string, base int) *Error {
	if err == nil || err.Pos == 0 {
		return err
	}
	// Pos counts runes in sub; convert back to a byte offset, then re-base on s.
	off := 0
	for i := 1; i < err.Pos && off < len(sub); i++ {
		_, n := utf8.DecodeRuneInString(sub[off:])
		off += n
	}
	e := *err
	e.Pos = utf8.RuneCountInString(s[:min(base+off, len(s))]) + 1
	return &e
}
