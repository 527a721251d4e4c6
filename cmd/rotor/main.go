// Command rotor is a real-time messaging server compatible with Centrifugo's client
// protocol and server API.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/api"
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

// serveOptions are what runServer hands serve.
type serveOptions struct {
	// configPath is -c/--config (default config.json); explicitConfig is true when
	// the flag was given.
	configPath     string
	explicitConfig bool
	// env is the environment with the changed flags appended as ROTOR_* entries.
	env []string
	// flagNames renames the ROTOR_* variables of flags to the flags in messages.
	flagNames      *strings.Replacer
	stdout, stderr io.Writer
}

// errShutdownTimeout is returned when the drain outlasts shutdown.timeout.
var errShutdownTimeout = errors.New("shutdown timeout reached")

// serve runs the server until SIGINT or SIGTERM; SIGHUP reloads the channel options
// and token keys. Without a config file (no -c and no ./config.json) it starts a
// development server on 127.0.0.1:8000 with generated secrets.
func serve(o serveOptions) error {
	dev := false
	path := o.configPath
	if !o.explicitConfig {
		if _, err := os.Stat(path); err != nil {
			dev, path = true, ""
		}
	}
	var devSecrets *devSecrets
	if dev {
		devSecrets = newDevSecrets()
		o.env = append(o.env, devSecrets.env()...)
	}
	missing := false
	load := func() (*config.ServerConfig, error) {
		sc, err := config.Load(path, o.env)
		if errors.Is(err, fs.ErrNotExist) && !dev {
			// As Centrifugo: a missing config file means defaults.
			missing = true
			sc, err = config.Load("", o.env)
		}
		if err != nil {
			return nil, err
		}
		if dev {
			devSecrets.apply(sc)
		}
		return sc, nil
	}
	sc, err := load()
	if err != nil {
		return err
	}
	ops := config.Ext[config.Ops](sc)
	logger, closeLog, err := newLogger(sc.LogLevel, ops.LogFile, o.stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	if missing {
		logger.Warn("config file not found, using defaults", "path", path)
	}
	if o.flagNames != nil {
		sc.Report.Rename(o.flagNames.Replace)
	}
	if err := reportConfig(sc, logger); err != nil {
		return err
	}

	proxyHeaders, err := config.BuildProxies(sc, logger)
	if err != nil {
		return err
	}
	if h := sc.Engine.UserIDHTTPHeader; h != "" {
		proxyHeaders = append(proxyHeaders, h)
	}
	sc.Engine.Version = version + " Rotor"
	sc.Engine.NodeInfoMetricsAggregateInterval = config.Ext[config.Metrics](sc).InfoMetricsAggregateInterval
	bk, err := buildBackends(sc, logger)
	if err != nil {
		return err
	}
	// Closed when serve returns: after the node's shutdown, or on a failed start;
	// not past shutdown.timeout (closing may wait on the very backend that hung).
	closeBackends := true
	defer func() {
		if closeBackends {
			bk.close()
		}
	}()
	sc.Engine.Broker, sc.Engine.PresenceManager, sc.Engine.Controller = bk.broker, bk.presence, bk.control
	node, err := engine.New(sc.Engine, logger)
	if err != nil {
		return err
	}
	node.Run()
	sc.API.Logger = logger
	apiHandler := api.New(sc.API, node)
	var clientPort int // set once the listener is up, before any request
	adm := newAdmin(sc, apiHandler, func() int { return clientPort }, logger)

	netio.Init()
	addr := net.JoinHostPort(sc.Address, strconv.Itoa(sc.Port))
	ltls := config.Ext[config.ListenerTLS](sc) // tls.go
	clientTLS, err := ltls.Client()
	if err != nil {
		return err
	}
	comp := config.Ext[config.Compression](sc) // compression.go
	httpServer := &fasthttp.Server{
		Handler:               withStreams(netio.NewStreams(streamConfig(sc, node, proxyHeaders, logger)), withAdmin(externalHandler(apiHandler, sc), sc, adminOn(adm, sc, true), sc.InternalPort == 0)),
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           60 * time.Second,
		MaxRequestBodySize:    api.ServerMaxBodySize(sc.API.MaxBodySize),
		NoDefaultServerHeader: true,
	}
	accept := func(t engine.Transport, r *netio.UpgradeRequest) netio.Session {
		return node.NewClient(t, requestHeaders(r, proxyHeaders))
	}
	var srv listener
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
			UniWebSocketPath:             uniWebSocketPath(sc),
			UniJoinPushMessages:          config.Ext[config.Transports](sc).UniWebSocket.JoinPushMessages,
			UniDisableDisconnectPush:     config.Ext[config.Transports](sc).UniWebSocket.DisableDisconnectPush,
			UniDisableClosingHandshake:   config.Ext[config.Transports](sc).UniWebSocket.DisableClosingHandshake,
			UniWriteTimeout:              config.Ext[config.Transports](sc).UniWebSocket.WriteTimeout,
			UniMessageSizeLimit:          config.Ext[config.Transports](sc).UniWebSocket.MessageSizeLimit,
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
			UniWebSocketPath:             uniWebSocketPath(sc),
			UniJoinPushMessages:          config.Ext[config.Transports](sc).UniWebSocket.JoinPushMessages,
			UniDisableDisconnectPush:     config.Ext[config.Transports](sc).UniWebSocket.DisableDisconnectPush,
			UniDisableClosingHandshake:   config.Ext[config.Transports](sc).UniWebSocket.DisableClosingHandshake,
			UniWriteTimeout:              config.Ext[config.Transports](sc).UniWebSocket.WriteTimeout,
			UniMessageSizeLimit:          config.Ext[config.Transports](sc).UniWebSocket.MessageSizeLimit,
			Accept:                       accept,
			Logger:                       logger,
		})
	}
	if err != nil {
		return err
	}
	clientPort = srv.Addr().(*net.TCPAddr).Port
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
			Handler:               withAdmin(internalHandler(apiHandler, sc), sc, adminOn(adm, sc, false), true),
			MaxRequestBodySize:    api.ServerMaxBodySize(sc.API.MaxBodySize),
			ReadBufferSize:        sc.MaxHeaderBytes, // bounds the request head
			NoDefaultServerHeader: true,
		}
		go func() { serveErr <- internal.Serve(ln) }()
		logger.Info("internal endpoints (api, health, metrics)", "address", ln.Addr().String())
	}
	if ops.PIDFile != "" {
		if err := os.WriteFile(ops.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			return fmt.Errorf("pid_file: %w", err)
		}
		defer os.Remove(ops.PIDFile)
	}

	base := "http://" + srv.Addr().String()
	if clientTLS != nil {
		base = "https://" + srv.Addr().String()
	}
	logger.Info("rotor started", "version", version, "address", srv.Addr().String(), "pid", os.Getpid())
	if dev {
		printDevBanner(o.stdout, base, sc, devSecrets)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reload(load, node, logger)
				continue
			}
			logger.Info("shutting down", "signal", s.String(), "timeout", ops.ShutdownTimeout.String())
			break wait
		case err := <-serveErr:
			if err != nil {
				return err
			}
		}
	}
	err = shutdown(ops.ShutdownTimeout, node, srv, internal, logger)
	closeBackends = err == nil
	return err
}

// reload applies what Centrifugo reloads on SIGHUP: channel options and token keys.
// A config that does not load or validate is logged and changes nothing.
func reload(load func() (*config.ServerConfig, error), node *engine.Node, logger *slog.Logger) {
	logger.Info("reloading configuration")
	sc, err := load()
	if err == nil {
		err = node.Reload(sc.Engine)
	}
	if err != nil {
		logger.Error("error reloading configuration, nothing changed", "err", err)
		return
	}
	logger.Info("configuration successfully reloaded")
}

// shutdown drains within timeout: clients first (each gets 3001 "shutdown" and
// closes), then the listeners. Past the timeout it gives up and reports
// errShutdownTimeout (exit status 1, as Centrifugo's).
// listener is the client port: netio's event loop, or netio/stdws with TLS.
type listener interface {
	Addr() net.Addr
	Serve() error
	Shutdown(context.Context) error
}

func shutdown(timeout time.Duration, node *engine.Node, srv listener, internal *fasthttp.Server, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := node.Shutdown(ctx); err != nil {
		logger.Warn("client shutdown incomplete", "err", err)
	}
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("listener shutdown", "err", err)
	}
	if internal != nil {
		_ = internal.ShutdownWithContext(ctx)
	}
	if ctx.Err() != nil {
		logger.Error("shutdown timeout reached", "timeout", timeout.String())
		return errShutdownTimeout
	}
	logger.Info("shutdown complete")
	return nil
}

// reportConfig logs what the config sets that Rotor does not apply, and fails for
// what it cannot honour.
func reportConfig(sc *config.ServerConfig, logger *slog.Logger) error {
	r := &sc.Report
	for _, k := range r.Unknown {
		logger.Warn("unknown config key", "key", k)
	}
	for _, k := range r.UnknownEnv {
		logger.Warn("unknown environment variable", "var", k)
	}
	for _, k := range r.NotHonoured {
		logger.Warn("config key not supported by rotor, ignored", "key", k.Key, "value", k.Value)
	}
	return r.Err()
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
	metricsPath := config.Ext[config.Metrics](sc).HandlerPrefix
	return func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/health":
			if !sc.HealthEnabled {
				ctx.Error("404 page not found", fasthttp.StatusNotFound)
				return
			}
		case metricsPath:
			if sc.PrometheusEnabled {
				serveMetrics(ctx)
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

// Sessions hear of a peer hang-up at once, so their proxy calls and key fetches end
// even while a handler is blocked in one.
var _ netio.PeerWatcher = (*engine.Client)(nil)
