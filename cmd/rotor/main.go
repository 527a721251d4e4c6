// Command rotor is a real-time messaging server compatible with Centrifugo's client
// protocol and server API.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/benchmarks"
	"github.com/rotorhq/rotor/cmd/rotor/config"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
	"github.com/rotorhq/rotor/netio/stdws"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "rotor %s\n", version)
			return 0
		case "gentoken":
			return genToken(args[1:], stdout, stderr)
		case "bench":
			return benchmarks.Main(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("rotor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configPath string
	fs.StringVar(&configPath, "config", "", "path to a Centrifugo v6 config file (.json, .yaml, .yml, .toml)")
	fs.StringVar(&configPath, "c", "", "shorthand for --config")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := serve(configPath, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "rotor: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the server until SIGINT or SIGTERM. Without a config file it starts a
// development server on 127.0.0.1:8000 with generated secrets.
func serve(configPath string, stdout, stderr io.Writer) error {
	dev := false
	if configPath == "" {
		if _, err := os.Stat("config.json"); err == nil {
			configPath = "config.json" // Centrifugo's default file name
		} else {
			dev = true
		}
	}
	sc, err := config.Load(configPath, os.Environ())
	if err != nil {
		return err
	}
	if dev {
		applyDevDefaults(sc)
	}
	logger := newLogger(sc.LogLevel, stderr)
	for _, key := range sc.Ignored {
		logger.Warn("config key not supported by rotor yet, ignored", "key", key)
	}

	proxyHeaders, err := config.BuildProxies(sc, logger)
	if err != nil {
		return err
	}
	if h := sc.Engine.UserIDHTTPHeader; h != "" {
		proxyHeaders = append(proxyHeaders, h)
	}
	sc.Engine.Version = version + " Rotor"
	bk, err := buildBackends(sc, logger)
	if err != nil {
		return err
	}
	// Closed when serve returns: after the node's shutdown, or on a failed start.
	defer bk.close()
	sc.Engine.Broker, sc.Engine.PresenceManager, sc.Engine.Controller = bk.broker, bk.presence, bk.control
	node, err := engine.New(sc.Engine, logger)
	if err != nil {
		return err
	}
	node.Run()
	sc.API.Logger = logger
	apiHandler := api.New(sc.API, node)

	netio.Init()
	addr := net.JoinHostPort(sc.Address, strconv.Itoa(sc.Port))
	ltls := config.Ext[config.ListenerTLS](sc) // tls.go
	clientTLS, err := ltls.Client()
	if err != nil {
		return err
	}
	comp := config.Ext[config.Compression](sc) // compression.go
	httpServer := &fasthttp.Server{
		Handler:               externalHandler(apiHandler, sc),
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           60 * time.Second,
		MaxRequestBodySize:    api.ServerMaxBodySize(sc.API.MaxBodySize),
		NoDefaultServerHeader: true,
	}
	accept := func(t engine.Transport, r *netio.UpgradeRequest) netio.Session {
		return node.NewClient(t, requestHeaders(r, proxyHeaders))
	}
	var srv interface {
		Addr() net.Addr
		Serve() error
		Shutdown(context.Context) error
	}
	if clientTLS != nil {
		// netpoll has no TLS: the goroutine-per-connection path serves it.
		httpServer.ReadBufferSize = sc.MaxHeaderBytes
		srv, err = stdws.Listen(stdws.Config{
			Address:                      addr,
			TLS:                          clientTLS,
			AllowedOrigins:               sc.AllowedOrigins,
			MessageSizeLimit:             sc.MessageSizeLimit,
			QueueMaxSize:                 sc.QueueMaxSize,
			WriteTimeout:                 sc.WriteTimeout,
			Compression:                  comp.Enabled,
			CompressionLevel:             comp.Level,
			CompressionMinSize:           comp.MinSize,
			DecompressedMessageSizeLimit: comp.DecompressedMessageSizeLimit,
			HTTPServer:                   httpServer,
			Admit:                        node.Admit,
			Accept:                       accept,
			Logger:                       logger,
		})
	} else {
		srv, err = netio.Listen(netio.Config{
			Address:                      addr,
			AllowedOrigins:               sc.AllowedOrigins,
			MessageSizeLimit:             sc.MessageSizeLimit,
			QueueMaxSize:                 sc.QueueMaxSize,
			MaxHeaderBytes:               sc.MaxHeaderBytes,
			WriteTimeout:                 sc.WriteTimeout,
			Compression:                  comp.Enabled,
			CompressionLevel:             comp.Level,
			CompressionMinSize:           comp.MinSize,
			DecompressedMessageSizeLimit: comp.DecompressedMessageSizeLimit,
			HTTPServer:                   httpServer,
			Admit:                        node.Admit,
			Accept:                       accept,
			Logger:                       logger,
		})
	}
	if err != nil {
		return err
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve() }()
	var internal *fasthttp.Server
	if sc.InternalPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(sc.InternalAddress, strconv.Itoa(sc.InternalPort)))
		if err != nil {
			return fmt.Errorf("http_server.internal_port: %w", err)
		}
		internalTLS, err := ltls.Internal()
		if err != nil {
			return err
		}
		if internalTLS != nil {
			ln = tls.NewListener(ln, internalTLS)
		}
		internal = &fasthttp.Server{
			Handler:               internalHandler(apiHandler, sc),
			MaxRequestBodySize:    api.ServerMaxBodySize(sc.API.MaxBodySize),
			ReadBufferSize:        sc.MaxHeaderBytes, // bounds the request head
			NoDefaultServerHeader: true,
		}
		go func() { serveErr <- internal.Serve(ln) }()
		logger.Info("internal endpoints (api, health, metrics)", "address", ln.Addr().String())
	}

	base := "http://" + srv.Addr().String()
	if clientTLS != nil {
		base = "https://" + srv.Addr().String()
	}
	logger.Info("rotor started", "version", version, "address", srv.Addr().String())
	if dev {
		printDevBanner(stdout, base, sc)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
	case err := <-serveErr:
		if err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Clients first: each gets 3001 "shutdown" and closes; then the listener, which
	// waits for the remaining connections.
	if err := node.Shutdown(ctx); err != nil {
		logger.Warn("client shutdown incomplete", "err", err)
	}
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("listener shutdown", "err", err)
	}
	if internal != nil {
		_ = internal.ShutdownWithContext(ctx)
	}
	return nil
}

// externalHandler serves the client port's plain HTTP requests: everything when there
// is no internal port, otherwise only the API when http_api.external asks for it.
func externalHandler(apiHandler *api.Handler, sc *config.ServerConfig) fasthttp.RequestHandler {
	all := httpHandler(apiHandler, sc)
	if sc.InternalPort == 0 {
		return all
	}
	return func(ctx *fasthttp.RequestCtx) {
		p := ctx.Path()
		if sc.APIExternal && isAPIPath(p) {
			apiHandler.ServeHTTP(ctx)
			return
		}
		ctx.Error("404 page not found", fasthttp.StatusNotFound)
	}
}

// internalHandler serves the internal port: health, metrics and the API, unless
// http_api.external moved the API to the client port.
func internalHandler(apiHandler *api.Handler, sc *config.ServerConfig) fasthttp.RequestHandler {
	all := httpHandler(apiHandler, sc)
	if !sc.APIExternal {
		return all
	}
	return func(ctx *fasthttp.RequestCtx) {
		if isAPIPath(ctx.Path()) {
			ctx.Error("404 page not found", fasthttp.StatusNotFound)
			return
		}
		all(ctx)
	}
}

func isAPIPath(p []byte) bool {
	return string(p) == "/api" || bytes.HasPrefix(p, []byte("/api/"))
}

// httpHandler serves everything that is not a WebSocket upgrade. /health and
// /metrics exist only with health.enabled and prometheus.enabled, as in Centrifugo.
func httpHandler(apiHandler *api.Handler, sc *config.ServerConfig) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/health":
			if !sc.HealthEnabled {
				ctx.Error("404 page not found", fasthttp.StatusNotFound)
				return
			}
		case "/metrics":
			if sc.PrometheusEnabled {
				ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
				metrics.WritePrometheus(ctx, true)
				return
			}
		}
		apiHandler.ServeHTTP(ctx)
	}
}

// requestHeaders copies the headers that proxies forward; nil when none are needed,
// so idle connections pay nothing for them.
func requestHeaders(r *netio.UpgradeRequest, names []string) map[string]string {
	var out map[string]string
	for _, name := range names {
		if v := r.Header(name); v != "" {
			if out == nil {
				out = make(map[string]string, len(names))
			}
			out[name] = v
		}
	}
	return out
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	switch level {
	case "none":
		return slog.New(slog.DiscardHandler)
	case "trace", "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// applyDevDefaults turns the built-in defaults into a usable local playground:
// loopback only, generated secrets, every origin, and channels without namespace open
// to subscribers and their publications.
func applyDevDefaults(sc *config.ServerConfig) {
	if sc.Address == "" {
		sc.Address = "127.0.0.1"
	}
	if sc.Engine.TokenHMACSecretKey == "" {
		sc.Engine.TokenHMACSecretKey = randomSecret(32)
	}
	if sc.API.Key == "" {
		sc.API.Key = randomSecret(24)
	}
	if len(sc.AllowedOrigins) == 0 {
		sc.AllowedOrigins = []string{"*"}
	}
	sc.HealthEnabled = true
	sc.PrometheusEnabled = true
	sc.Engine.WithoutNamespace.AllowSubscribeForClient = true
	sc.Engine.WithoutNamespace.AllowPublishForSubscriber = true
}

func printDevBanner(w io.Writer, base string, sc *config.ServerConfig) {
	token, _ := makeToken(sc.Engine.TokenHMACSecretKey, "demo", 24*time.Hour)
	ws := "ws" + base[len("http"):] + "/connection/websocket"
	fmt.Fprintf(w, `
Rotor development server (no config file: generated secrets, loopback only)

  WebSocket:   %s
  Server API:  %s/api   (X-API-Key: %s)
  Health:      %s/health

  Demo token (user "demo", valid 24h):
    %s

  Publish to channel "demo":
    curl -s -X POST -H 'X-API-Key: %s' -d '{"channel":"demo","data":{"text":"hello"}}' %s/api/publish

`, ws, base, sc.API.Key, base, token, sc.API.Key, base)
}

func randomSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func makeToken(secret, user string, ttl time.Duration) (string, error) {
	claims := jwt.MapClaims{"sub": user, "iat": time.Now().Unix()}
	if ttl > 0 {
		claims["exp"] = time.Now().Add(ttl).Unix()
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// genToken prints an HS256 connection token signed with the config's HMAC key, like
// `centrifugo gentoken`.
func genToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gentoken", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath, user string
		ttl              int
	)
	fs.StringVar(&configPath, "config", "config.json", "config file")
	fs.StringVar(&configPath, "c", "config.json", "shorthand for --config")
	fs.StringVar(&user, "user", "", "user ID (\"\" = anonymous)")
	fs.StringVar(&user, "u", "", "shorthand for --user")
	fs.IntVar(&ttl, "ttl", 604800, "token lifetime in seconds; <= 0 means no exp claim")
	fs.IntVar(&ttl, "t", 604800, "shorthand for --ttl")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc, err := config.Load(configPath, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "rotor: %v\n", err)
		return 1
	}
	if sc.Engine.TokenHMACSecretKey == "" {
		fmt.Fprintln(stderr, "rotor: client.token.hmac_secret_key is not set in the config")
		return 1
	}
	token, err := makeToken(sc.Engine.TokenHMACSecretKey, user, time.Duration(ttl)*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "rotor: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}

// Sessions hear of a peer hang-up at once, so their proxy calls and key fetches end
// even while a handler is blocked in one.
var _ netio.PeerWatcher = (*engine.Client)(nil)
