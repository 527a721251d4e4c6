package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/rotorhq/rotor/engine"
)

// adminServer serves a over an in-memory listener and returns a client for it.
func adminServer(t *testing.T, a *Admin) *http.Client {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: a.ServeHTTP, NoDefaultServerHeader: true}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
	}}
}

type userNode struct {
	*fakeNode
	conns map[string][]engine.ConnectionInfo
}

func (n userNode) UserConnections(user string) []engine.ConnectionInfo { return n.conns[user] }

func newTestAdmin(cfg AdminConfig) (*Admin, *fakeNode) {
	node := &fakeNode{info: engine.NodeInfo{UID: "u1", Name: "node1", Version: "v"}}
	un := userNode{fakeNode: node, conns: map[string][]engine.ConnectionInfo{
		"42": {{Client: "c1", User: "42", Info: []byte(`{"a":1}`), Protocol: "json", Channels: []string{"news"}}},
	}}
	if cfg.UI == nil {
		cfg.UI = fstest.MapFS{
			"index.html":    {Data: []byte("<title>Rotor admin</title>")},
			"assets/app.js": {Data: []byte("console.log(1)")},
		}
	}
	return NewAdmin(cfg, New(Config{Key: "apikey"}, un)), node
}

type reply struct {
	status int
	ctype  string
	body   string
}

func do(t *testing.T, c *http.Client, method, path, token, ctype string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, "http://admin"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// multipartPassword is how Centrifugo's admin web app posts the password.
func multipartPassword(t *testing.T, password string) (string, io.Reader) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("password", password); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	return w.FormDataContentType(), &buf
}

func login(t *testing.T, c *http.Client, prefix, password string) reply {
	ct, body := multipartPassword(t, password)
	return do(t, c, "POST", prefix+"/admin/auth", "", ct, body)
}

func TestAdminAuthFlow(t *testing.T) {
	t.Parallel()
	a, node := newTestAdmin(AdminConfig{Password: "pass", Secret: "sec"})
	c := adminServer(t, a)

	if r := do(t, c, "GET", "/admin/init", "", "", nil); r.status != 200 || r.ctype != "application/json" ||
		r.body != `{"authenticated":false,"edition":"oss","insecure":false}`+"\n" {
		t.Fatalf("init unauthenticated: %+v", r)
	}
	if r := login(t, c, "", "wrong"); r.status != 400 || r.body != "Bad Request\n" {
		t.Fatalf("wrong password: %+v", r)
	}
	if r := do(t, c, "GET", "/admin/auth", "", "", nil); r.status != 405 || r.body != "" {
		t.Fatalf("GET auth: %+v", r)
	}
	r := login(t, c, "", "pass")
	if r.status != 200 || r.ctype != "application/json" || !strings.HasSuffix(r.body, "\"}\n") {
		t.Fatalf("login: %+v", r)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("login body %q: %v", r.body, err)
	}
	// A urlencoded form works too.
	if r := do(t, c, "POST", "/admin/auth", "", "application/x-www-form-urlencoded", strings.NewReader("password=pass")); r.status != 200 {
		t.Fatalf("urlencoded login: %+v", r)
	}

	if r := do(t, c, "POST", "/admin/init", tok.Token, "", nil); r.body != `{"authenticated":true,"edition":"oss","insecure":false}`+"\n" {
		t.Fatalf("init authenticated: %+v", r)
	}
	api := func(token string) reply {
		return do(t, c, "POST", "/admin/api", token, "application/json", strings.NewReader(`{"method":"info","params":{}}`))
	}
	if r := api(""); r.status != 401 || r.body != "" {
		t.Fatalf("no token: %+v", r)
	}
	if r := api(tok.Token + "x"); r.status != 401 {
		t.Fatalf("bad token: %+v", r)
	}
	if r := api(newAdminToken("other", time.Now())); r.status != 401 {
		t.Fatalf("token of another secret: %+v", r)
	}
	if r := api(newAdminToken("sec", time.Now().Add(-31*24*time.Hour))); r.status != 401 {
		t.Fatalf("expired token: %+v", r)
	}
	if r := do(t, c, "GET", "/admin/api", tok.Token, "", nil); r.status != 405 {
		t.Fatalf("GET api: %+v", r)
	}
	r = api(tok.Token)
	if r.status != 200 || !strings.Contains(r.body, `"name":"node1"`) {
		t.Fatalf("info: %+v", r)
	}
	// The API key does not open the admin API.
	req, _ := http.NewRequest("POST", "http://admin/admin/api", strings.NewReader(`{"method":"info","params":{}}`))
	req.Header.Set("X-API-Key", "apikey")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("api key on admin api: %v %v", resp, err)
	}
	// Commands reach the node.
	r = do(t, c, "POST", "/admin/api", tok.Token, "application/json", strings.NewReader(`{"method":"publish","params":{"channel":"news","data":{"x":1}}}`))
	if r.status != 200 || r.body != `{"result":{}}` {
		t.Fatalf("publish: %+v", r)
	}
	if len(node.calls) != 1 || node.calls[0].channel != "news" || node.calls[0].data != `{"x":1}` {
		t.Fatalf("node calls: %+v", node.calls)
	}

	// Rotor's additions need the token too.
	if r := do(t, c, "POST", "/admin/rotor/user", "", "application/x-www-form-urlencoded", strings.NewReader("user=42")); r.status != 401 {
		t.Fatalf("user without token: %+v", r)
	}
	r = do(t, c, "POST", "/admin/rotor/user", tok.Token, "application/x-www-form-urlencoded", strings.NewReader("user=42"))
	if r.status != 200 || r.body != `{"connections":[{"client":"c1","user":"42","info":{"a":1},"protocol":"json","channels":["news"]}],"node":"node1"}`+"\n" {
		t.Fatalf("user: %+v", r)
	}
	r = do(t, c, "POST", "/admin/rotor/live", tok.Token, "application/x-www-form-urlencoded", strings.NewReader("channel=news"))
	if r.status != 404 || !strings.Contains(r.body, "hmac_secret_key") {
		t.Fatalf("live without minter: %+v", r)
	}
}

func TestAdminNoSecret(t *testing.T) {
	t.Parallel()
	for _, cfg := range []AdminConfig{{Password: "pass"}, {Secret: "sec"}} {
		a, _ := newTestAdmin(cfg)
		c := adminServer(t, a)
		if r := login(t, c, "", "pass"); r.status != 400 {
			t.Fatalf("%+v: login: %+v", cfg, r)
		}
		if r := login(t, c, "", ""); r.status != 400 {
			t.Fatalf("%+v: empty login: %+v", cfg, r)
		}
	}
	a, _ := newTestAdmin(AdminConfig{Password: "pass"})
	c := adminServer(t, a)
	if r := do(t, c, "POST", "/admin/api", newAdminToken("", time.Now()), "application/json", strings.NewReader(`{"method":"info"}`)); r.status != 401 {
		t.Fatalf("api without secret: %+v", r)
	}
}

func TestAdminInsecure(t *testing.T) {
	t.Parallel()
	a, _ := newTestAdmin(AdminConfig{Insecure: true, LiveToken: func(ch string) (string, error) { return "T:" + ch, nil }, WebSocketPort: func() int { return 8123 }})
	c := adminServer(t, a)
	if r := do(t, c, "GET", "/admin/init", "", "", nil); r.body != `{"authenticated":true,"edition":"oss","insecure":true}`+"\n" {
		t.Fatalf("init: %+v", r)
	}
	if r := do(t, c, "POST", "/admin/api", "", "application/json", strings.NewReader(`{"method":"info","params":{}}`)); r.status != 200 || !strings.Contains(r.body, "node1") {
		t.Fatalf("api: %+v", r)
	}
	r := do(t, c, "POST", "/admin/rotor/live", "", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"channel": {"a:b"}}.Encode()))
	if r.status != 200 || r.body != `{"port":8123,"token":"T:a:b"}`+"\n" {
		t.Fatalf("live: %+v", r)
	}
}

func TestAdminStaticAndPrefix(t *testing.T) {
	t.Parallel()
	a, _ := newTestAdmin(AdminConfig{Password: "p", Secret: "s", HandlerPrefix: "/ui/"})
	c := adminServer(t, a)
	if r := do(t, c, "GET", "/ui/", "", "", nil); r.status != 200 || r.ctype != "text/html; charset=utf-8" || r.body != "<title>Rotor admin</title>" {
		t.Fatalf("index: %+v", r)
	}
	if r := do(t, c, "GET", "/ui/assets/app.js", "", "", nil); r.status != 200 || !strings.Contains(r.ctype, "javascript") {
		t.Fatalf("asset: %+v", r)
	}
	for _, p := range []string{"/ui/missing.js", "/ui/../index.html", "/admin/init", "/uix/"} {
		if r := do(t, c, "GET", p, "", "", nil); r.status != 404 {
			t.Fatalf("%s: %+v", p, r)
		}
	}
	if r := login(t, c, "/ui", "p"); r.status != 200 {
		t.Fatalf("login under prefix: %+v", r)
	}
	if !a.Match([]byte("/ui/x")) || a.Match([]byte("/uix")) || a.Match([]byte("/ui")) {
		t.Fatal("Match")
	}
	root, _ := newTestAdmin(AdminConfig{})
	if !root.Match([]byte("/")) || !root.Match([]byte("/anything")) {
		t.Fatal("empty prefix must match every path")
	}
}

func TestAdminWebPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeTestFile(dir+"/index.html", "from disk"); err != nil {
		t.Fatal(err)
	}
	a, _ := newTestAdmin(AdminConfig{Insecure: true, WebPath: dir})
	c := adminServer(t, a)
	if r := do(t, c, "GET", "/", "", "", nil); r.status != 200 || r.body != "from disk" {
		t.Fatalf("web_path index: %+v", r)
	}
}

// TestAdminTokenFormat pins the token to securecookie's encoding, so tokens are
// interchangeable with Centrifugo nodes sharing admin.secret: a token Centrifugo
// v6.9.1 issued (secret "secret") verifies, and a fresh one has its layout.
func TestAdminTokenFormat(t *testing.T) {
	t.Parallel()
	// Issued by Centrifugo v6.9.1 (POST /admin/auth, admin.secret "secret") at unix 1796354192.
	const cf = "MTc5NjM1NDE5MnxEUXdBQ21GMWRHaHZjbWw2WldRPXxXVepgidSxRuoHSjpolEwlZlT6XK72c4jl89o7I_Iu2g=="
	issued := time.Unix(1796354192, 0)
	if !checkAdminToken("secret", cf, issued.Add(time.Hour)) {
		t.Fatal("Centrifugo's token rejected")
	}
	if checkAdminToken("secreT", cf, issued) || checkAdminToken("secret", cf, issued.Add(31*24*time.Hour)) {
		t.Fatal("Centrifugo's token accepted with another secret or after 30 days")
	}
	if got := newAdminToken("secret", issued); got != cf {
		t.Fatalf("token differs from Centrifugo's for the same secret and time:\n%s\n%s", got, cf)
	}
	now := time.Now()
	tok := newAdminToken("secret", now)
	if !checkAdminToken("secret", tok, now) || checkAdminToken("Secret", tok, now) {
		t.Fatal("round trip")
	}
	if checkAdminToken("secret", tok, now.Add(31*24*time.Hour)) {
		t.Fatal("30-day max age not enforced")
	}
	raw, err := base64Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 || len(parts[2]) != 32 {
		t.Fatalf("layout: %q", raw)
	}
	if checkAdminToken("secret", "", now) || checkAdminToken("secret", strings.Repeat("A", 5000), now) {
		t.Fatal("garbage accepted")
	}
}

func base64Decode(s string) ([]byte, error) { return base64.URLEncoding.DecodeString(s) }

func writeTestFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o644) }

func TestAdminWebProxy(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	defer up.Close()
	a, _ := newTestAdmin(AdminConfig{Password: "p", Secret: "s", WebProxyAddress: up.URL, WebPath: t.TempDir()})
	c := adminServer(t, a)
	if r := do(t, c, "GET", "/assets/x.js", "", "", nil); r.status != 200 || r.body != "upstream /assets/x.js" {
		t.Fatalf("proxied: %+v", r)
	}
	// The admin endpoints are not proxied.
	if r := do(t, c, "GET", "/admin/init", "", "", nil); r.status != 200 || !strings.Contains(r.body, `"edition":"oss"`) {
		t.Fatalf("init: %+v", r)
	}
}
