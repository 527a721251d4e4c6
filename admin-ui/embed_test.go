package adminui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestIndexEmbedded: the built UI is embedded and every asset index.html loads is
// there (a stale or partial dist/ fails here; make admin-ui-check also compares it
// with a fresh build).
func TestIndexEmbedded(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<title>Rotor admin</title>") {
		t.Fatalf("unexpected index.html: %q", b)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(b), -1)
	if len(refs) < 2 {
		t.Fatalf("index.html loads no script and style: %q", b)
	}
	for _, m := range refs {
		st, err := fs.Stat(FS(), m[1])
		if err != nil || st.Size() == 0 {
			t.Fatalf("index.html references %s: %v", m[1], err)
		}
	}
}
