package server

import (
	"errors"
	"fmt"
	"net/http"

	"tracewatch"
	"tracewatch/internal/browser"
	"tracewatch/internal/nhsa"
)

// forbidden is the refusal of an authenticated caller asking for something it may not do
// (HTTP 403), as opposed to a caller that is not authenticated at all (HTTP 401).
func forbidden(op, format string, args ...any) error {
	return tracewatch.Errorf(op, tracewatch.KindForbidden, format, args...)
}

// statusOf maps an error to its HTTP status. It is the one place where error kinds
// become statuses; every NHSA refusal carries infcode "-1" whatever the status.
func statusOf(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBusy), errors.Is(err, browser.ErrNoBrowser):
		return http.StatusServiceUnavailable
	}
	switch tracewatch.KindOf(err) {
	case tracewatch.KindInvalid:
		return http.StatusBadRequest
	case tracewatch.KindNotFound:
		return http.StatusNotFound
	case tracewatch.KindConflict:
		return http.StatusConflict
	case tracewatch.KindUnauthorized:
		return http.StatusUnauthorized
	case tracewatch.KindForbidden:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// internalMessage is all a caller learns of an internal failure; the log has the rest.
const internalMessage = "internal error: retry later with the same msgid (a message is never stored twice)"

// publicMessage is what a caller is told about err: the field and the reason, without
// the operation. Internal errors say nothing of their cause.
func publicMessage(err error) string {
	var tooLarge *http.MaxBytesError
	switch status := statusOf(err); {
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("request body too large: the limit is %d bytes", tooLarge.Limit)
	case status >= 500 && errors.Is(err, errBusy):
		return errBusy.Error()
	case status >= 500 && errors.Is(err, browser.ErrNoBrowser):
		return "this server cannot print PDF files: " + browser.ErrNoBrowser.Error()
	case status >= 500:
		return internalMessage
	}
	return nhsa.Reason(err) // the fields and the reason, without operation names
}
