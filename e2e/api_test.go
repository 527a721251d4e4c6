package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// rawHTTP does one request and returns status and body.
func rawHTTP(t *testing.T, method, url string, header http.Header, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAPIAuthentication: the HTTP API accepts the key in X-API-Key,
// "Authorization: apikey" or ?api_key=, refuses anything else with an empty
// 401, and answers non-POST requests with 405.
func TestAPIAuthentication(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	url := srv.BaseURL + "/api/info"
	cases := []struct {
		name   string
		method string
		url    string
		header http.Header
		status int
	}{
		{"x-api-key", http.MethodPost, url, http.Header{"X-Api-Key": {harness.APIKey}}, 200},
		{"authorization apikey", http.MethodPost, url, http.Header{"Authorization": {"apikey " + harness.APIKey}}, 200},
		{"authorization scheme case-insensitive", http.MethodPost, url, http.Header{"Authorization": {"APIKEY " + harness.APIKey}}, 200},
		{"query api_key", http.MethodPost, url + "?api_key=" + harness.APIKey, nil, 200},
		{"no key", http.MethodPost, url, nil, 401},
		{"wrong x-api-key", http.MethodPost, url, http.Header{"X-Api-Key": {"nope"}}, 401},
		{"wrong authorization", http.MethodPost, url, http.Header{"Authorization": {"apikey nope"}}, 401},
		{"bearer scheme", http.MethodPost, url, http.Header{"Authorization": {"Bearer " + harness.APIKey}}, 401},
		{"GET", http.MethodGet, url, http.Header{"X-Api-Key": {harness.APIKey}}, 405},
	}
	for _, tc := range cases {
		status, body := rawHTTP(t, tc.method, tc.url, tc.header, "{}")
		if status != tc.status {
			t.Errorf("%s: HTTP %d %q, want %d", tc.name, status, body, tc.status)
			continue
		}
		switch status {
		case 200:
			var r struct {
				Result *struct {
					Nodes []json.RawMessage `json:"nodes"`
				} `json:"result"`
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.Result == nil || len(r.Result.Nodes) != 1 {
				t.Errorf("%s: body %q, want an info result with one node", tc.name, body)
			}
		case 401, 405:
			if body != "" {
				t.Errorf("%s: HTTP %d with body %q, want an empty body", tc.name, status, body)
			}
		}
	}
}

// TestAPIErrors: errors come back as HTTP 200 with an error object.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	cases := []struct {
		name    string
		method  string
		body    string
		code    uint32
		message string
	}{
		{"unknown namespace", "publish", `{"channel":"nope:x","data":{}}`, 102, "unknown channel"},
		{"empty channel", "publish", `{"channel":"","data":{}}`, 107, "bad request"},
		{"missing data", "publish", `{"channel":"news"}`, 107, "bad request"},
		{"broadcast without channels", "broadcast", `{"channels":[],"data":{}}`, 107, "bad request"},
	}
	for _, tc := range cases {
		r := srv.API(t, tc.method, tc.body)
		if r.Status != 200 || r.Error == nil || r.Error.Code != tc.code || r.Error.Message != tc.message {
			t.Errorf("%s: HTTP %d %s, want 200 with error %d %q", tc.name, r.Status, r.Body, tc.code, tc.message)
		}
		if r.Result != nil {
			t.Errorf("%s: result present next to the error: %s", tc.name, r.Body)
		}
	}
	if status, body := rawHTTP(t, http.MethodPost, srv.BaseURL+"/api/publish", http.Header{"X-Api-Key": {harness.APIKey}}, ""); status != 400 {
		t.Errorf("empty body: HTTP %d %q, want 400", status, body)
	}
	if status, body := rawHTTP(t, http.MethodPost, srv.BaseURL+"/api/no_such_method", http.Header{"X-Api-Key": {harness.APIKey}}, "{}"); status != 404 {
		t.Errorf("unknown method path: HTTP %d %q, want 404", status, body)
	}
}

// TestLegacyAPIPublish: the legacy POST /api endpoint (what gocent v3 sends,
// with "Authorization: apikey"), several newline-separated commands in one
// body, one reply line each, publications delivered in order.
func TestLegacyAPIPublish(t *testing.T) {
	t.Parallel()
	srv := harness.Start(t, nil)
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: harness.UserToken(t, "alice")})
	sub := newSubscription(t, c, "news")
	connectAndWait(t, c, log)
	subscribeAndWait(t, sub)

	body := `{"method":"publish","params":{"channel":"news","data":{"legacy":1}}}` + "\n" +
		`{"id":7,"method":"publish","params":{"channel":"news","data":{"legacy":2}}}` + "\n" +
		`{"method":"publish","params":{"channel":"nope:x","data":{"legacy":3}}}` + "\n"
	status, resp := rawHTTP(t, http.MethodPost, srv.BaseURL+"/api",
		http.Header{"Authorization": {"apikey " + harness.APIKey}, "Content-Type": {"application/json"}}, body)
	if status != 200 {
		t.Fatalf("POST /api: HTTP %d %q", status, resp)
	}
	var lines []string
	for _, l := range strings.Split(resp, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	type reply struct {
		ID     uint32            `json:"id"`
		Result json.RawMessage   `json:"result"`
		Error  *harness.APIError `json:"error"`
	}
	if len(lines) != 3 {
		t.Fatalf("POST /api: %d reply lines in %q, want 3", len(lines), resp)
	}
	var replies []reply
	for _, l := range lines {
		var r reply
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("reply line %q: %v", l, err)
		}
		replies = append(replies, r)
	}
	if replies[0].ID != 0 || replies[0].Error != nil || string(replies[0].Result) != "{}" {
		t.Errorf("reply 1 %q, want {\"result\":{}}", lines[0])
	}
	if replies[1].ID != 7 || replies[1].Error != nil || string(replies[1].Result) != "{}" {
		t.Errorf("reply 2 %q, want {\"id\":7,\"result\":{}}", lines[1])
	}
	if replies[2].Error == nil || replies[2].Error.Code != 102 {
		t.Errorf("reply 3 %q, want error 102", lines[2])
	}
	for _, want := range []string{`{"legacy":1}`, `{"legacy":2}`} {
		if p := sub.nextPublication(t, 5*time.Second); string(p.Data) != want {
			t.Errorf("publication %s, want %s", p.Data, want)
		}
	}
	sub.expectNoPublication(t, 200*time.Millisecond)
}
