package main

import (
	"log/slog"

	"github.com/valyala/fasthttp"

	"github.com/rotorhq/rotor/cmd/rotor/config"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio"
)

// streamConfig maps the HTTP transport keys (http_stream, sse, emulation, uni_sse,
// uni_http_stream) onto netio.StreamConfig.
func streamConfig(sc *config.ServerConfig, node *engine.Node, proxyHeaders []string, logger *slog.Logger) netio.StreamConfig {
	t := config.Ext[config.Transports](sc)
	ep := func(e config.Endpoint) netio.StreamEndpoint {
		out := netio.StreamEndpoint{Enabled: e.Enabled, Path: e.HandlerPrefix, MaxRequestBodySize: e.MaxRequestBodySize}
		out.ConnectCodeToHTTP.Enabled = e.CodeToHTTP
		for _, tr := range e.CodeToHTTPMapping {
			out.ConnectCodeToHTTP.Transforms = append(out.ConnectCodeToHTTP.Transforms,
				netio.ConnectCodeTransform{Code: tr.Code, StatusCode: tr.To.StatusCode, Body: tr.To.Body})
		}
		return out
	}
	return netio.StreamConfig{
		Node:                 node,
		AllowedOrigins:       sc.AllowedOrigins,
		QueueMaxSize:         sc.QueueMaxSize,
		WriteTimeout:         sc.WriteTimeout,
		HTTPStream:           ep(t.HTTPStream),
		SSE:                  ep(t.SSE),
		UniSSE:               ep(t.UniSSE),
		UniHTTPStream:        ep(t.UniHTTPStream),
		EmulationPath:        t.Emulation.HandlerPrefix,
		EmulationMaxBodySize: t.Emulation.MaxRequestBodySize,
		Admit:                node.Admit,
		Headers: func(h *fasthttp.RequestHeader) map[string]string {
			var out map[string]string
			for _, name := range proxyHeaders {
				if v := h.Peek(name); len(v) > 0 {
					if out == nil {
						out = make(map[string]string, len(proxyHeaders))
					}
					out[name] = string(v)
				}
			}
			return out
		},
		Logger: logger,
	}
}

// withStreams serves the HTTP transports in front of next (the client port's other
// handlers).
func withStreams(s *netio.Streams, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !s.Serve(ctx) {
			next(ctx)
		}
	}
}

// uniWebSocketPath is where uni_websocket upgrades are served; "" when disabled.
func uniWebSocketPath(sc *config.ServerConfig) string {
	u := config.Ext[config.Transports](sc).UniWebSocket
	if !u.Enabled {
		return ""
	}
	return u.HandlerPrefix
}
