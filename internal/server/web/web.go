// Package web holds the web workplace's templates and static files, embedded in the
// binary (nothing is loaded from a CDN: provincial networks are offline). The server's
// pages (internal/server/pages.go) render the templates; static/vendor holds the
// third-party libraries, refreshed by vendor.sh.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates static
var files embed.FS

// Templates are the page templates (templates/*.html).
func Templates() fs.FS {
	sub, err := fs.Sub(files, "templates")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Static are the files served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	return sub
}
