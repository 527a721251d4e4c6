package api

import (
	"crypto/subtle"
	"encoding/json"
	"io/fs"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/engine"
)

// AdminConfig is the admin.* section (config.md §10) plus what cmd wires in.
type AdminConfig struct {
	// Password is admin.password; with Secret, required for password login.
	Password string
	// Secret is admin.secret: the HMAC key of admin tokens.
	Secret string
	// Insecure is admin.insecure: no authentication at all.
	Insecure bool
	// HandlerPrefix is admin.handler_prefix ("" serves the UI at /). A trailing
	// slash is ignored.
	HandlerPrefix string
	// WebPath is admin.web_path: serve the UI files from this directory instead of
	// UI (e.g. Centrifugo's own admin web app).
	WebPath string
	// WebProxyAddress is admin.web_proxy_address: reverse-proxy every UI request to
	// this URL (a UI development server) instead of serving files. Takes precedence
	// over WebPath, as in Centrifugo. Must parse as a URL (validated by the config).
	WebProxyAddress string
	// UI holds the embedded UI files (index.html at its root); used without WebPath.
	UI fs.FS
	// LiveToken mints a short-lived client connection token whose channels claim
	// subscribes the connection to channel server-side; the UI's live tail connects
	// with it to the client WebSocket endpoint. nil when the server cannot mint
	// tokens (no client.token.hmac_secret_key): the live tail is unavailable.
	LiveToken func(channel string) (string, error)
	// WebSocketPort reports the client port the live tail connects to; called per
	// request, after the listener is up.
	WebSocketPort func() int
	// Stats reports this node's counters (Prometheus series name → value summed
	// over labels) for the dashboard's per-second rates; nil → none.
	Stats func() map[string]float64
	// Logger; nil → discard.
	Logger *slog.Logger
}

// UserConnectionsLister is optionally implemented by the Node (*engine.Node does):
// the admin UI's user page lists a user's connections on this node with it.
type UserConnectionsLister interface {
	UserConnections(user string) []engine.ConnectionInfo
}

// Admin serves the admin endpoints and the admin web UI under the handler prefix:
// /admin/init, /admin/auth and /admin/api as Centrifugo does, two Rotor additions
// for its own UI (/admin/rotor/live, /admin/rotor/user) and the UI's files for every
// other path. Safe for concurrent use.
type Admin struct {
	cfg    AdminConfig
	prefix string
	api    *Handler
	files  fs.FS
	log    *slog.Logger
	users  UserConnectionsLister
	now    func() time.Time
	// proxy serves the UI files when WebProxyAddress is set.
	proxy fasthttp.RequestHandler
}

// adminAuthMaxBody is /admin/auth's body limit, as Centrifugo's.
const adminAuthMaxBody = 1 << 20

// NewAdmin builds the admin handler on top of the API handler, whose legacy
// multi-command endpoint /admin/api runs (without the API key: the admin token
// guards it instead).
func NewAdmin(cfg AdminConfig, h *Handler) *Admin {
	a := &Admin{
		cfg:    cfg,
		prefix: strings.TrimRight(cfg.HandlerPrefix, "/"),
		api:    h,
		files:  cfg.UI,
		log:    cfg.Logger,
		now:    time.Now,
	}
	if cfg.WebPath != "" {
		a.files = os.DirFS(cfg.WebPath)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if cfg.WebProxyAddress != "" {
		if u, err := url.Parse(cfg.WebProxyAddress); err == nil {
			a.proxy = webProxy(u, a.log)
		}
	}
	a.users, _ = h.node.(UserConnectionsLister)
	return a
}

// Match reports whether path is under the admin prefix (the whole URL space when
// the prefix is empty): the paths Centrifugo's mux gives the admin handler.
func (a *Admin) Match(p []byte) bool {
	return len(p) > len(a.prefix) && strings.HasPrefix(string(p), a.prefix) && p[len(a.prefix)] == '/'
}

// ServeHTTP serves one request whose path Match accepted.
func (a *Admin) ServeHTTP(ctx *fasthttp.RequestCtx) {
	p := string(ctx.Path())
	if a.prefix != "" && p == a.prefix {
		// As net/http's ServeMux does for the subtree pattern prefix+"/".
		ctx.Redirect(p+"/", fasthttp.StatusMovedPermanently)
		return
	}
	if !a.Match(ctx.Path()) {
		textError(ctx, fasthttp.StatusNotFound, "404 page not found\n")
		return
	}
	rel := p[len(a.prefix):]
	switch rel {
	case "/admin/init":
		a.init(ctx)
	case "/admin/auth":
		if !ctx.IsPost() {
			emptyStatus(ctx, fasthttp.StatusMethodNotAllowed)
			return
		}
		a.auth(ctx)
	case "/admin/api":
		if !ctx.IsPost() {
			emptyStatus(ctx, fasthttp.StatusMethodNotAllowed)
			return
		}
		if !a.admit(ctx) {
			return
		}
		if len(ctx.PostBody()) > a.api.maxBody {
			textError(ctx, fasthttp.StatusRequestEntityTooLarge, "Request Entity Too Large\n")
			return
		}
		a.api.legacy(ctx)
	case "/admin/rotor/live":
		if !ctx.IsPost() {
			emptyStatus(ctx, fasthttp.StatusMethodNotAllowed)
			return
		}
		if a.admit(ctx) {
			a.live(ctx)
		}
	case "/admin/rotor/stats":
		if !ctx.IsPost() {
			emptyStatus(ctx, fasthttp.StatusMethodNotAllowed)
			return
		}
		if a.admit(ctx) {
			a.stats(ctx)
		}
	case "/admin/rotor/user":
		if !ctx.IsPost() {
			emptyStatus(ctx, fasthttp.StatusMethodNotAllowed)
			return
		}
		if a.admit(ctx) {
			a.user(ctx)
		}
	default:
		a.static(ctx, rel)
	}
}

// tokenOf extracts T from "Authorization: token T" (two white-space separated
// fields, the first "token" in any case); "" when absent or malformed.
func tokenOf(ctx *fasthttp.RequestCtx) string {
	parts := strings.Fields(string(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)))
	if len(parts) != 2 || !strings.EqualFold(parts[0], "token") {
		return ""
	}
	return parts[1]
}

// authenticated reports whether the request may use the admin API.
func (a *Admin) authenticated(ctx *fasthttp.RequestCtx) bool {
	if a.cfg.Insecure {
		return true
	}
	t := tokenOf(ctx)
	return t != "" && checkAdminToken(a.cfg.Secret, t, a.now())
}

// admit answers 401 (empty body, as Centrifugo) unless the request is authenticated.
func (a *Admin) admit(ctx *fasthttp.RequestCtx) bool {
	if a.authenticated(ctx) {
		return true
	}
	if !a.cfg.Insecure && a.cfg.Secret == "" {
		a.log.Error("admin: admin.secret is not set")
	}
	emptyStatus(ctx, fasthttp.StatusUnauthorized)
	return false
}

// init answers any method with the UI's settings; keys in encoding/json's map order
// and a trailing newline, as Centrifugo's json.Encoder writes them.
func (a *Admin) init(ctx *fasthttp.RequestCtx) {
	body := `{"authenticated":` + strconv.FormatBool(a.authenticated(ctx)) +
		`,"edition":"oss","insecure":` + strconv.FormatBool(a.cfg.Insecure) + "}\n"
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.SetBodyString(body)
}

// auth exchanges the form field password (urlencoded or multipart/form-data, or the
// query string) for a token.
func (a *Admin) auth(ctx *fasthttp.RequestCtx) {
	var password []byte
	if len(ctx.PostBody()) <= adminAuthMaxBody {
		password = ctx.FormValue("password")
	}
	if a.cfg.Password == "" || a.cfg.Secret == "" {
		a.log.Error("admin: admin.password and admin.secret must be set")
		textError(ctx, fasthttp.StatusBadRequest, "Bad Request\n")
		return
	}
	if subtle.ConstantTimeCompare(password, []byte(a.cfg.Password)) != 1 {
		textError(ctx, fasthttp.StatusBadRequest, "Bad Request\n")
		return
	}
	token := newAdminToken(a.cfg.Secret, a.now())
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.SetBodyString(`{"token":"` + token + "\"}\n")
}

// live answers {"token":T,"port":P} for the live tail of the form field channel:
// the UI connects to ws://<its host>:P/connection/websocket with token T, whose
// channels claim subscribes it server-side (whatever the channel's namespace lets
// clients do). 404 {"error":…} when the server cannot mint tokens.
func (a *Admin) live(ctx *fasthttp.RequestCtx) {
	channel := string(ctx.FormValue("channel"))
	if channel == "" {
		textError(ctx, fasthttp.StatusBadRequest, "Bad Request\n")
		return
	}
	if a.cfg.LiveToken == nil || a.cfg.WebSocketPort == nil {
		writeAdminJSON(ctx, fasthttp.StatusNotFound, map[string]string{
			"error": "live tail needs client.token.hmac_secret_key to mint a connection token",
		})
		return
	}
	token, err := a.cfg.LiveToken(channel)
	if err != nil {
		a.log.Error("admin: minting live tail token", "error", err)
		internalServerError(ctx)
		return
	}
	writeAdminJSON(ctx, fasthttp.StatusOK, map[string]any{"token": token, "port": a.cfg.WebSocketPort()})
}

// adminConnection is one entry of /admin/rotor/user's answer.
type adminConnection struct {
	Client   string          `json:"client"`
	User     string          `json:"user"`
	Info     json.RawMessage `json:"info,omitempty"`
	ExpireAt int64           `json:"expire_at,omitempty"`
	Protocol string          `json:"protocol"`
	Channels []string        `json:"channels"`
}

// user lists the connections of the form field user on this node:
// {"node":name,"connections":[…]}.
func (a *Admin) user(ctx *fasthttp.RequestCtx) {
	if a.users == nil {
		writeAdminJSON(ctx, fasthttp.StatusNotFound, map[string]string{"error": "not supported by this node"})
		return
	}
	user := string(ctx.FormValue("user"))
	conns := a.users.UserConnections(user)
	out := make([]adminConnection, 0, len(conns))
	for _, c := range conns {
		ac := adminConnection{Client: c.Client, User: c.User, ExpireAt: c.ExpireAt, Protocol: c.Protocol, Channels: c.Channels}
		if len(c.Info) > 0 {
			if json.Valid(c.Info) {
				ac.Info = c.Info
			} else {
				b, _ := json.Marshal(string(c.Info))
				ac.Info = b
			}
		}
		out = append(out, ac)
	}
	name := ""
	if nodes := a.api.node.Info(); len(nodes) > 0 {
		name = nodes[0].Name
	}
	writeAdminJSON(ctx, fasthttp.StatusOK, map[string]any{"node": name, "connections": out})
}

// stats answers {"uid":…,"node":…,"metrics":{name:value}} for this node.
func (a *Admin) stats(ctx *fasthttp.RequestCtx) {
	var uid, name string
	if nodes := a.api.node.Info(); len(nodes) > 0 {
		uid, name = nodes[0].UID, nodes[0].Name
	}
	m := map[string]float64{}
	if a.cfg.Stats != nil {
		m = a.cfg.Stats()
	}
	writeAdminJSON(ctx, fasthttp.StatusOK, map[string]any{"uid": uid, "node": name, "metrics": m})
}

func writeAdminJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		internalServerError(ctx)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.SetBody(append(b, '\n'))
}

// static serves a UI file as http.FileServer does for the cases a single-page app
// needs: "/" and directories serve their index.html, a missing file is a plain 404.
func (a *Admin) static(ctx *fasthttp.RequestCtx, rel string) {
	if a.proxy != nil {
		a.proxy(ctx)
		return
	}
	if a.files == nil {
		textError(ctx, fasthttp.StatusNotFound, "404 page not found\n")
		return
	}
	name := strings.TrimPrefix(path.Clean(rel), "/")
	if name == "" {
		name = "."
	}
	if st, err := fs.Stat(a.files, name); err == nil && st.IsDir() {
		name = path.Join(name, "index.html")
	}
	b, err := fs.ReadFile(a.files, name)
	if err != nil {
		textError(ctx, fasthttp.StatusNotFound, "404 page not found\n")
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(ct)
	if path.Base(name) == "index.html" {
		ctx.Response.Header.Set("Cache-Control", "no-cache")
	}
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		ctx.Response.Header.SetContentLength(len(b))
		return
	}
	ctx.Response.SetBody(b)
}

// webProxy forwards a request to the UI development server at u as Go's
// httputil.NewSingleHostReverseProxy does for Centrifugo: same method, headers and
// body, u's path joined in front of the request path, the query kept; an upstream
// error is logged and answered with an empty 200, as Centrifugo's error handler
// leaves it.
func webProxy(u *url.URL, log *slog.Logger) fasthttp.RequestHandler {
	hc := &fasthttp.HostClient{
		Addr:                     u.Host,
		IsTLS:                    u.Scheme == "https",
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
	}
	if u.Port() == "" {
		if hc.IsTLS {
			hc.Addr += ":443"
		} else {
			hc.Addr += ":80"
		}
	}
	base := strings.TrimSuffix(u.Path, "/")
	return func(ctx *fasthttp.RequestCtx) {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		ctx.Request.CopyTo(req)
		req.URI().SetScheme(u.Scheme)
		req.URI().SetHost(u.Host)
		req.URI().SetPath(base + string(ctx.Path()))
		req.Header.Del(fasthttp.HeaderConnection)
		if err := hc.Do(req, &ctx.Response); err != nil {
			log.Error("admin web proxy error", "error", err)
			ctx.Response.Reset()
			ctx.SetStatusCode(fasthttp.StatusOK)
		}
	}
}
