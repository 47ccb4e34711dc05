// Package web holds Rallypoint's browser side and serves its playable demo.
// The demo's sources live in demo/src (TypeScript, bundled with the SDK from
// sdk/src by esbuild); the built bundle in demo/dist is committed and
// embedded here, so cmd/server serves the demo at / without a Node
// toolchain. `make web` rebuilds the bundle; a test fails when the
// committed bundle is stale.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed demo/dist
var dist embed.FS

// FS returns the built demo: index.html, app.js and app.css at its root.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "demo/dist")
	if err != nil {
		panic(err) // the pattern above is a constant: cannot happen
	}
	return sub
}

// contentTypes are set explicitly rather than from mime.TypeByExtension,
// which reads the host's mime.types and may answer differently per machine.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// asset is one file of the bundle, read once.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the demo: GET or HEAD / answers index.html and /<file>
// answers that file of the bundle; every other path is 404 (there is no
// single-page fallback, so a mistyped API path is not answered with HTML).
// Responses carry a content hash as ETag and Cache-Control: no-cache, so a
// browser revalidates and a rebuilt server is never shadowed by a cache.
func Handler() http.Handler {
	files := map[string]*asset{}
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		files["/"+p] = &asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // an embedded FS cannot fail to read
	}
	if idx, ok := files["/index.html"]; ok {
		files["/"] = idx
		delete(files, "/index.html")
	}
	return &handler{files: files}
}

type handler struct {
	files map[string]*asset // immutable after Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	if a.ctype == contentTypes[".html"] {
		// The demo loads only its own files; the lobby and game socket may
		// be on another origin (?server=).
		hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
