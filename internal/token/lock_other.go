//go:build !unix

package token

// lock is a no-op where flock is not available: run one `tracewatch token` command at a
// time there.
func lock(string) (func(), error) { return func() {}, nil }
