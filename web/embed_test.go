package web_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rallypoint/rallypoint/web"
)

// TestBundleFresh rebuilds the demo with the committed esbuild into a
// temporary directory and compares it byte for byte with demo/dist, the
// bundle cmd/server embeds. esbuild's output is deterministic, so any
// difference means a source changed without `make web`.
func TestBundleFresh(t *testing.T) {
	if _, err := os.Stat(filepath.Join("node_modules", ".bin", "esbuild")); err != nil {
		t.Fatal("web/node_modules is missing: run `npm ci --prefix web` (make test does)")
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "demo/build.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, b)
	}
	want := readDir(t, os.DirFS(out))
	got := readDir(t, web.FS())
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("demo/dist/%s is missing: run `make web` and commit web/demo/dist", name)
		case !bytes.Equal(g, w):
			t.Errorf("demo/dist/%s is stale (%d bytes committed, %d built): run `make web` and commit web/demo/dist", name, len(g), len(w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("demo/dist/%s is not built any more: run `make web` (it removes nothing: delete it) and commit", name)
		}
	}
}

// TestDemoTypes type-checks the demo and the SDK sources it imports
// (esbuild only strips types), so an SDK API change that breaks the demo
// fails here rather than in a browser.
func TestDemoTypes(t *testing.T) {
	tsc := filepath.Join("node_modules", ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		t.Fatal("web/node_modules is missing: run `npm ci --prefix web` (make test does)")
	}
	if b, err := exec.Command(tsc, "-p", "demo", "--noEmit").CombinedOutput(); err != nil {
		t.Fatalf("tsc -p web/demo: %v\n%s", err, b)
	}
}

func readDir(t *testing.T, fsys fs.FS) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		files[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBundleShape checks that the bundle is self-contained: one script and
// one stylesheet, loaded from this origin, and the element ids the
// browser tests rely on.
func TestBundleShape(t *testing.T) {
	files := readDir(t, web.FS())
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "app.css app.js index.html" {
		t.Fatalf("bundle files = %v, want app.css app.js index.html", names)
	}
	html := string(files["index.html"])
	for _, want := range []string{`src="app.js"`, `href="app.css"`, `id="name"`, `id="play"`, `id="arena"`, `id="hud"`, `id="reconnecting"`, `id="results"`, `id="again"`} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	for _, bad := range []string{`src="http`, `href="http`, `src="//`, `href="//`} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html loads from another origin (%s)", bad)
		}
	}
	if css := string(files["app.css"]); strings.Contains(css, "@import") || strings.Contains(css, "url(http") {
		t.Error("app.css loads from another origin")
	}
}

func TestHandler(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/app.css", 200, "text/css; charset=utf-8"},
		{"GET", "/index.html", 404, ""},
		{"GET", "/nope.js", 404, ""},
		{"GET", "/v1/nope", 404, ""},
		{"GET", "/demo/dist/app.js", 404, ""},
		{"POST", "/", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
				t.Fatalf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tc.ctype)
			}
			if tc.status == 200 && tc.method == "GET" && rec.Body.Len() == 0 {
				t.Fatal("empty body")
			}
		})
	}
	// Revalidation: the ETag answers 304.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app.js", nil))
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if etag == "" || rec.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match %q: status %d, want 304", etag, rec.Code)
	}
}
