package api

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/engine"
)

// TestAPIMetrics: each call is timed under its method, and error replies are
// counted by method and code, as Centrifugo's api series.
func TestAPIMetrics(t *testing.T) {
	t.Parallel()
	node := &fakeNode{errs: map[string]error{"nope": engine.ErrorUnknownChannel}}
	h := newTestHandler(Config{}, node)
	auth := map[string]string{"X-API-Key": testKey}
	serve(t, h, request{uri: "/api/publish", body: `{"channel":"a","data":{}}`, headers: auth})
	serve(t, h, request{uri: "/api/publish", body: `{"channel":"nope","data":{}}`, headers: auth})
	serve(t, h, request{uri: "/api/info", body: `{}`, headers: auth})
	// Batch and legacy commands count under their own methods.
	serve(t, h, request{uri: "/api/batch", body: `{"commands":[{"publish":{"channel":"a","data":{}}},{"history":{"channel":"nope"}}]}`, headers: auth})
	serve(t, h, request{uri: "/api", body: `{"method":"presence","params":{"channel":"nope"}}`, headers: auth})
	var buf bytes.Buffer
	h.m.set.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`centrifugo_api_command_duration_seconds_count{method="publish",protocol="http"} 3`,
		`centrifugo_api_command_duration_seconds_histogram_count{method="publish",protocol="http"} 3`,
		`centrifugo_api_command_duration_seconds_count{method="batch",protocol="http"} 1`,
		`centrifugo_api_command_duration_seconds_count{method="history",protocol="http"} 1`,
		`centrifugo_api_command_duration_seconds_count{method="presence",protocol="http"} 1`,
		`centrifugo_api_command_errors_total{error="102",method="history",protocol="http"} 1`,
		`centrifugo_api_command_errors_total{error="102",method="presence",protocol="http"} 1`,
		`centrifugo_api_command_duration_seconds_count{method="info",protocol="http"} 1`,
		`centrifugo_api_command_errors_total{error="102",method="publish",protocol="http"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, out)
		}
	}
}
