package tracewatch

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an error for the caller: it decides the HTTP status, the NHSA
// infcode and whether a row goes to quarantine. Map kinds in one place (the server);
// never match error strings.
type ErrorKind uint8

// The error kinds.
const (
	KindInternal     ErrorKind = iota // a fault of ours: retry or call the operator
	KindInvalid                       // the input is wrong: fix it and resubmit
	KindNotFound                      // the thing asked for does not exist
	KindConflict                      // the request contradicts the stored state
	KindUnauthorized                  // the caller is not authenticated (no or a wrong credential)
	KindForbidden                     // the caller is known but may not do this (role, region, own work)
)

var kindNames = [...]string{"internal", "invalid", "not_found", "conflict", "unauthorized", "forbidden"}

func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is the one error type of tracewatch: an operation, a kind, the field or row it
// concerns when there is one, and the underlying error.
type Error struct {
	Op    string    // the operation that failed, e.g. "duckdb.AppendSales"
	Kind  ErrorKind // what the caller should do about it
	Field string    // the input field, row or code concerned (never personal data)
	Err   error     // the underlying error
}

// E builds an *Error.
func E(op string, kind ErrorKind, err error) *Error { return &Error{Op: op, Kind: kind, Err: err} }

// Errorf builds an *Error with a formatted message.
func Errorf(op string, kind ErrorKind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// WithField returns a copy of e naming the field, row or code concerned.
func (e *Error) WithField(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

func (e *Error) Error() string {
	s := e.Op
	if e.Field != "" {
		s += " " + e.Field
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the outermost *Error in err's chain whose kind is set, and
// KindInternal for any other error.
func KindOf(err error) ErrorKind {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return KindInternal
		}
		if e.Kind != KindInternal {
			return e.Kind
		}
		err = e.Err
	}
	return KindInternal
}
