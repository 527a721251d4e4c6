package main

import (
	"bytes"
	"log/slog"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	adminui "github.com/rotorhq/rotor/admin-ui"
	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/cmd/rotor/config"
)

// newAdmin builds the admin handler when admin.enabled, else nil.
func newAdmin(sc *config.ServerConfig, apiHandler *api.Handler, clientPort func() int, logger *slog.Logger) *api.Admin {
	ac := config.Ext[config.Admin](sc)
	if !ac.Enabled {
		return nil
	}
	if ac.Insecure {
		logger.Warn("INSECURE admin mode enabled, make sure you understand risks")
	}
	cfg := api.AdminConfig{
		Password:        ac.Password,
		Secret:          ac.Secret,
		Insecure:        ac.Insecure,
		HandlerPrefix:   ac.HandlerPrefix,
		WebPath:         ac.WebPath,
		WebProxyAddress: ac.WebProxyAddress,
		UI:              adminui.FS(),
		WebSocketPort:   clientPort,
		Stats:           localStats,
		Logger:          logger,
	}
	if secret := sc.Engine.TokenHMACSecretKey; secret != "" {
		cfg.LiveToken = func(channel string) (string, error) {
			return liveToken(secret, channel)
		}
	}
	return api.NewAdmin(cfg, apiHandler)
}

// liveToken is the admin UI's live tail credential: a one-hour connection token of
// user "rotor-admin" whose channels claim subscribes it to channel server-side,
// whatever the namespace lets clients do, as the admin is allowed to see everything.
func liveToken(secret, channel string) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"sub":      "rotor-admin",
		"iat":      now.Unix(),
		"exp":      now.Add(time.Hour).Unix(),
		"channels": []string{channel},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// pprof handlers as Centrifugo registers them under debug.handler_prefix.
var (
	pprofIndex   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)
	pprofCmdline = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Cmdline)
	pprofProfile = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Profile)
	pprofSymbol  = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Symbol)
	pprofTrace   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Trace)
)

// withAdmin adds, in front of a port's handler, pprof (debug.enabled, when debug is
// true: the internal port) and the admin endpoints and UI (admin.enabled, when adm is
// not nil: the internal port, or the client port with admin.external). The API,
// /health and /metrics keep their own routes; with an empty admin.handler_prefix the
// admin UI answers every other path, as in Centrifugo.
func withAdmin(next fasthttp.RequestHandler, sc *config.ServerConfig, adm *api.Admin, debug bool) fasthttp.RequestHandler {
	dc := config.Ext[config.Debug](sc)
	debug = debug && dc.Enabled
	if !debug && adm == nil {
		return next
	}
	dprefix := strings.TrimRight(dc.HandlerPrefix, "/")
	return func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		if debug && strings.HasPrefix(p, dprefix+"/") {
			switch p[len(dprefix):] {
			case "/cmdline":
				pprofCmdline(ctx)
			case "/profile":
				pprofProfile(ctx)
			case "/symbol":
				pprofSymbol(ctx)
			case "/trace":
				pprofTrace(ctx)
			default:
				pprofIndex(ctx)
			}
			return
		}
		if adm != nil && p != "/health" && p != "/metrics" && !isAPIPath(ctx.Path()) && adm.Match(ctx.Path()) {
			adm.ServeHTTP(ctx)
			return
		}
		next(ctx)
	}
}

// adminOn returns adm when the admin belongs on the client port (external true) or
// the internal one: both are the same port without http_server.internal_port.
func adminOn(adm *api.Admin, sc *config.ServerConfig, external bool) *api.Admin {
	if adm == nil || sc.InternalPort == 0 || config.Ext[config.Admin](sc).External == external {
		return adm
	}
	return nil
}

// localStats sums this process's Prometheus series by name (labels dropped), read
// from the same exposition /metrics serves, for the admin dashboard's rates.
func localStats() map[string]float64 {
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	return sumExposition(buf.String())
}

// sumExposition parses Prometheus text exposition lines "name{labels} value" (or
// "name value") and sums the values by name; comments and malformed lines are
// skipped.
func sumExposition(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if name == "" || strings.ContainsAny(name, " }") {
			continue
		}
		out[name] += v
	}
	return out
}
