package e2e_test

// admin.* and debug.* on the ports Centrifugo puts them: with
// http_server.internal_port the admin endpoints and UI are on the internal port
// (admin.external moves them to the client port), pprof (debug.enabled) is on the
// internal port only, and admin.handler_prefix moves the admin under a prefix.
// Passes against Centrifugo v6.9.1 too (ROTOR_BIN=/tmp/cf/centrifugo).

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/e2e/harness"
)

func adminGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminLogin posts the password as multipart/form-data, as Centrifugo's web app does.
func adminLogin(t *testing.T, base, password string) (int, string) {
	t.Helper()
	var body strings.Builder
	w := multipart.NewWriter(&body)
	_ = w.WriteField("password", password)
	_ = w.Close()
	resp, err := http.Post(base+"/admin/auth", w.FormDataContentType(), strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, ""
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatalf("auth body %q: %v", b, err)
	}
	return 200, tok.Token
}

func adminAPI(t *testing.T, base, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/api", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// isAdminIndex reports whether b is the admin UI's index.html: Rotor's, or
// Centrifugo's when the test runs against it (ROTOR_BIN=centrifugo).
func isAdminIndex(b string) bool {
	return strings.Contains(b, "<title>Rotor admin</title>") || strings.Contains(b, "<title>Centrifugo</title>")
}

func adminConfig() harness.Config {
	cfg := harness.DefaultConfig()
	cfg.Set("admin.enabled", true)
	cfg.Set("admin.password", "pw")
	cfg.Set("admin.secret", "sec")
	cfg.Set("debug.enabled", true)
	return cfg
}

func TestAdminOnInternalPort(t *testing.T) {
	t.Parallel()
	s := ipStart(t, adminConfig())
	if st, _ := adminGet(t, s.mainURL+"/admin/init"); st != 404 {
		t.Errorf("main /admin/init: %d, want 404", st)
	}
	if st, b := adminGet(t, s.internalURL+"/admin/init"); st != 200 || b != `{"authenticated":false,"edition":"oss","insecure":false}`+"\n" {
		t.Errorf("internal /admin/init: %d %q", st, b)
	}
	if st, b := adminGet(t, s.internalURL+"/"); st != 200 || !isAdminIndex(b) {
		t.Errorf("internal /: %d %q", st, b)
	}
	if st, _ := adminLogin(t, s.internalURL, "wrong"); st != 400 {
		t.Errorf("wrong password: %d", st)
	}
	st, token := adminLogin(t, s.internalURL, "pw")
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	if st, _ := adminAPI(t, s.internalURL, "", `{"method":"info","params":{}}`); st != 401 {
		t.Errorf("admin api without token: %d", st)
	}
	if st, b := adminAPI(t, s.internalURL, token, `{"method":"info","params":{}}`); st != 200 || !strings.Contains(b, `"num_clients"`) {
		t.Errorf("admin api: %d %q", st, b)
	}
	// pprof: internal port only.
	if st, b := adminGet(t, s.internalURL+"/debug/pprof/"); st != 200 || !strings.Contains(b, "goroutine") {
		t.Errorf("internal pprof index: %d", st)
	}
	if st, _ := adminGet(t, s.internalURL+"/debug/pprof/cmdline"); st != 200 {
		t.Errorf("internal pprof cmdline: %d", st)
	}
	if st, _ := adminGet(t, s.mainURL+"/debug/pprof/"); st != 404 {
		t.Errorf("main pprof: %d, want 404", st)
	}
	// The API and health keep their routes next to the catch-all admin UI.
	if st, _ := adminGet(t, s.internalURL+"/health"); st != 200 {
		t.Errorf("internal /health: %d", st)
	}
}

func TestAdminExternalWithPrefix(t *testing.T) {
	t.Parallel()
	cfg := adminConfig()
	cfg.Set("admin.external", true)
	cfg.Set("admin.handler_prefix", "/ops")
	cfg.Set("debug.enabled", false)
	s := ipStart(t, cfg)
	if st, _ := adminGet(t, s.internalURL+"/ops/admin/init"); st != 404 {
		t.Errorf("internal admin with admin.external: %d, want 404", st)
	}
	if st, _ := adminGet(t, s.mainURL+"/admin/init"); st != 404 {
		t.Errorf("unprefixed admin: %d, want 404", st)
	}
	if st, b := adminGet(t, s.mainURL+"/ops/"); st != 200 || !isAdminIndex(b) {
		t.Errorf("main /ops/: %d", st)
	}
	st, token := adminLogin(t, s.mainURL+"/ops", "pw")
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	if st, _ := adminAPI(t, s.mainURL+"/ops", token, `{"method":"info","params":{}}`); st != 200 {
		t.Errorf("admin api: %d", st)
	}
	if st, _ := adminGet(t, s.internalURL+"/debug/pprof/"); st != 404 {
		t.Errorf("pprof without debug.enabled: %d, want 404", st)
	}
}
