package engine

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves JWK Sets by path on 127.0.0.1 and counts requests.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	sets   map[string][]map[string]string // path → keys
	status int                            // != 0: answer with this status
	delay  time.Duration
	hits   map[string]*atomic.Int32
	// inflight counts requests being answered; maxInflight is its peak.
	inflight, maxInflight atomic.Int32
	// gone receives one value per request whose client went away before the answer.
	gone chan struct{}
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{sets: map[string][]map[string]string{}, hits: map[string]*atomic.Int32{}, gone: make(chan struct{}, 64)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := s.inflight.Add(1); n > s.maxInflight.Load() {
			s.maxInflight.Store(n) // only this test's handlers race here; a lost max is a lower one
		}
		defer s.inflight.Add(-1)
		s.mu.Lock()
		keys, ok := s.sets[r.URL.Path]
		status, delay := s.status, s.delay
		h := s.hits[r.URL.Path]
		if h == nil {
			h = new(atomic.Int32)
			s.hits[r.URL.Path] = h
		}
		s.mu.Unlock()
		h.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				s.gone <- struct{}{}
				return
			}
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on 127.0.0.1: %s", s.URL)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(path string, keys ...map[string]string) {
	s.mu.Lock()
	s.sets[path] = keys
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(status int, delay time.Duration) {
	s.mu.Lock()
	s.status, s.delay = status, delay
	s.mu.Unlock()
}

func (s *jwksServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hits[path]; h != nil {
		return int(h.Load())
	}
	return 0
}

var b64 = base64.RawURLEncoding

func rsaJWK(kid, alg string, pub *rsa.PublicKey) map[string]string {
	m := map[string]string{"kty": "RSA", "use": "sig", "kid": kid, "n": b64.EncodeToString(pub.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func ecJWK(kid, alg string, pub *ecdsa.PublicKey) map[string]string {
	raw, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	size := (len(raw) - 1) / 2
	m := map[string]string{"kty": "EC", "use": "sig", "kid": kid, "crv": pub.Curve.Params().Name, "x": b64.EncodeToString(raw[1 : 1+size]), "y": b64.EncodeToString(raw[1+size:])}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func okpJWK(kid string, pub crypto.PublicKey) map[string]string {
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64.EncodeToString(pub.(ed25519.PublicKey))}
}

// jwksVerifier builds a verifier for cfg whose JWKS caches use the given delays and
// a fetch timeout generous enough for a loaded -race run.
func jwksVerifier(t *testing.T, cfg Config, minGap, ttl time.Duration) *tokenVerifier {
	t.Helper()
	v := mustVerifier(t, cfg)
	for _, jv := range []*jwtVerifier{v.conn, v.sub} {
		if jv.jwks != nil {
			jv.jwks.minGap, jv.jwks.ttl = minGap, ttl
			jv.jwks.client.Timeout = 5 * time.Second
		}
	}
	return v
}

func TestJWKSAlgorithms(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	enc := rsaJWK("enc1", "", &k.rsa.PublicKey)
	enc["use"] = "enc"
	srv.set("/jwks",
		rsaJWK("r1", "", &k.rsa.PublicKey),
		rsaJWK("r2", "RS512", &k.rsa2.PublicKey),
		ecJWK("e1", "", &k.p256.PublicKey),
		ecJWK("e2", "ES384", &k.p384.PublicKey),
		ecJWK("e3", "", &k.p521.PublicKey),
		okpJWK("o1", k.ed.Public()),
		enc,
		map[string]string{"kty": "oct", "kid": "h1", "k": b64.EncodeToString([]byte("secret"))},
		map[string]string{"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
	)
	const secret = "static-secret"
	v := jwksVerifier(t, Config{Token: TokenConfig{
		JWKSPublicEndpoint: srv.URL + "/jwks",
		// Static keys are not used while a JWKS endpoint is configured.
		HMACSecretKey:         secret,
		HMACPreviousSecretKey: "previous",
		RSAPublicKey:          k.rsaPEM,
	}}, time.Millisecond, time.Hour)
	claims := jwt.MapClaims{"sub": "1", "exp": time.Now().Add(time.Hour).Unix()}
	cases := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
		want   string
	}{
		{"RS256, JWK without alg", jwt.SigningMethodRS256, k.rsa, "r1", "ok"},
		{"RS384, JWK without alg", jwt.SigningMethodRS384, k.rsa, "r1", "ok"},
		{"RS512, JWK without alg", jwt.SigningMethodRS512, k.rsa, "r1", "ok"},
		{"RS512, JWK alg RS512", jwt.SigningMethodRS512, k.rsa2, "r2", "ok"},
		{"RS256, JWK alg RS512", jwt.SigningMethodRS256, k.rsa2, "r2", "invalid"},
		{"RS256, other key under the kid", jwt.SigningMethodRS256, k.rsa2, "r1", "invalid"},
		{"PS256 with an RSA JWK", jwt.SigningMethodPS256, k.rsa, "r1", "invalid"},
		{"ES256 P-256", jwt.SigningMethodES256, k.p256, "e1", "ok"},
		{"ES384 P-384 with alg", jwt.SigningMethodES384, k.p384, "e2", "ok"},
		{"ES512 P-521", jwt.SigningMethodES512, k.p521, "e3", "ok"},
		{"ES384 with a P-256 JWK", jwt.SigningMethodES384, k.p384, "e1", "invalid"},
		{"ES256 with an RSA JWK", jwt.SigningMethodES256, k.p256, "r1", "invalid"},
		{"RS256 with an EC JWK", jwt.SigningMethodRS256, k.rsa, "e1", "invalid"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, "o1", "ok"},
		{"EdDSA other key", jwt.SigningMethodEdDSA, k.ed2, "o1", "invalid"},
		{"EdDSA with an RSA JWK", jwt.SigningMethodEdDSA, k.ed, "r1", "invalid"},
		{"HS256 with an OKP JWK", jwt.SigningMethodHS256, []byte(secret), "o1", "invalid"},
		{"HS256 with static key", jwt.SigningMethodHS256, []byte(secret), "r1", "invalid"},
		{"HS256 with previous static key", jwt.SigningMethodHS256, []byte("previous"), "r1", "invalid"},
		{"HS256 with an oct JWK", jwt.SigningMethodHS256, []byte("secret"), "h1", "invalid"},
		{"key for encryption", jwt.SigningMethodRS256, k.rsa, "enc1", "invalid"},
		{"malformed key skipped", jwt.SigningMethodRS256, k.rsa, "broken", "invalid"},
		{"no kid", jwt.SigningMethodRS256, k.rsa, "", "invalid"},
		{"unknown kid", jwt.SigningMethodRS256, k.rsa, "nope", "invalid"},
	}
	for _, tc := range cases {
		tok := signJWT(t, tc.method, tc.key, tc.kid, claims)
		if got := verifyConn(v, tok); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// Expiry is still reported as such with JWKS.
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodRS256, k.rsa, "r1", jwt.MapClaims{"exp": 1})); got != "expired" {
		t.Errorf("expired: %s", got)
	}
}

func TestJWKSCaching(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/jwks", rsaJWK("r1", "", &k.rsa.PublicKey))
	v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, time.Hour, time.Hour)
	tok := signJWT(t, jwt.SigningMethodRS256, k.rsa, "r1", jwt.MapClaims{"sub": "1"})
	subTok := signJWT(t, jwt.SigningMethodRS256, k.rsa, "r1", jwt.MapClaims{"sub": "1", "channel": "c"})

	// Concurrent first verifications share one fetch.
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 20 {
		wg.Go(func() {
			if verifyConn(v, tok) != "ok" {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d concurrent verifications failed", failed.Load())
	}
	for range 50 {
		if got := verifyConn(v, tok); got != "ok" {
			t.Fatalf("connection: %s", got)
		}
		if got := verifySub(v, subTok); got != "ok" {
			t.Fatalf("subscription: %s", got)
		}
	}
	if n := srv.count("/jwks"); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey))
	const gap = 150 * time.Millisecond
	v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, gap, time.Hour)
	tok1 := signJWT(t, jwt.SigningMethodRS256, k.rsa, "k1", jwt.MapClaims{"sub": "1"})
	tok2 := signJWT(t, jwt.SigningMethodES256, k.p256, "k2", jwt.MapClaims{"sub": "1"})
	if got := verifyConn(v, tok1); got != "ok" {
		t.Fatalf("k1: %s", got)
	}

	// The provider rotates to k2 right after our fetch: the new kid triggers a
	// refetch at once, without waiting for the minimum interval.
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey), ecJWK("k2", "ES256", &k.p256.PublicKey))
	start := time.Now()
	if got := verifyConn(v, tok2); got != "ok" {
		t.Fatalf("k2 after rotation: %s", got)
	}
	if n := srv.count("/jwks"); n != 2 {
		t.Fatalf("%d fetches after the new kid, want 2", n)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("refetch took %s", el)
	}

	// Made-up kids: concurrent callers share fetches, one in flight at a time.
	srv.setStatus(0, 30*time.Millisecond)
	before := srv.count("/jwks")
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			tok := signJWT(t, jwt.SigningMethodRS256, k.rsa, "bogus"+string(rune('a'+i%26)), jwt.MapClaims{"sub": "1"})
			if got := verifyConn(v, tok); got != "invalid" {
				t.Errorf("bogus kid: %s", got)
			}
		})
	}
	wg.Wait()
	srv.setStatus(0, 0)
	if fetches := srv.count("/jwks") - before; fetches < 1 || fetches >= 30 {
		t.Fatalf("%d fetches for 30 concurrent unknown kids, want them shared", fetches)
	}
	if m := srv.maxInflight.Load(); m != 1 {
		t.Fatalf("%d fetches of one URL in flight at once, want 1", m)
	}
	// Known kids are still served from the cache meanwhile.
	before = srv.count("/jwks")
	if verifyConn(v, tok1) != "ok" || verifyConn(v, tok2) != "ok" || srv.count("/jwks") != before {
		t.Fatal("known kids refetched")
	}

	// The provider drops k1: once the set is refetched (unknown kid), k1 is gone.
	srv.set("/jwks", ecJWK("k2", "ES256", &k.p256.PublicKey), rsaJWK("k3", "", &k.rsa2.PublicKey))
	tok3 := signJWT(t, jwt.SigningMethodRS256, k.rsa2, "k3", jwt.MapClaims{"sub": "1"})
	if got := verifyConn(v, tok3); got != "ok" {
		t.Fatalf("k3: %s", got)
	}
	if got := verifyConn(v, tok1); got != "invalid" {
		t.Fatalf("k1 after removal: %s", got)
	}
}

func TestJWKSTTLAndOutage(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey))
	const ttl = 100 * time.Millisecond
	v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, 10*time.Millisecond, ttl)
	tok1 := signJWT(t, jwt.SigningMethodRS256, k.rsa, "k1", jwt.MapClaims{"sub": "1"})
	if got := verifyConn(v, tok1); got != "ok" {
		t.Fatalf("k1: %s", got)
	}
	// After the TTL the set is refetched.
	time.Sleep(ttl + 20*time.Millisecond)
	if got := verifyConn(v, tok1); got != "ok" || srv.count("/jwks") != 2 {
		t.Fatalf("after TTL: %s, %d fetches", got, srv.count("/jwks"))
	}
	// A failing refetch keeps the known keys usable; unknown kids are invalid.
	srv.setStatus(http.StatusInternalServerError, 0)
	time.Sleep(ttl + 20*time.Millisecond)
	if got := verifyConn(v, tok1); got != "ok" {
		t.Fatalf("stale key during outage: %s", got)
	}
	if n := srv.count("/jwks"); n != 2+jwksFetchAttempts {
		t.Fatalf("%d fetches, want %d (one refetch with %d attempts)", n, 2+jwksFetchAttempts, jwksFetchAttempts)
	}
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodRS256, k.rsa, "k9", jwt.MapClaims{"sub": "1"})); got != "invalid" {
		t.Fatalf("unknown kid during outage: %s", got)
	}
	// Once the provider is back with k1 removed, the refetch drops it.
	srv.setStatus(0, 0)
	srv.set("/jwks", rsaJWK("k2", "", &k.rsa2.PublicKey))
	time.Sleep(ttl + 20*time.Millisecond)
	if got := verifyConn(v, tok1); got != "invalid" {
		t.Fatalf("k1 after the provider dropped it: %s", got)
	}
}

func TestJWKSEndpointDown(t *testing.T) {
	t.Parallel()
	k := testKeys()
	tok := signJWT(t, jwt.SigningMethodRS256, k.rsa, "k1", jwt.MapClaims{"sub": "1"})

	t.Run("status", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t)
		srv.setStatus(http.StatusServiceUnavailable, 0)
		v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, time.Millisecond, time.Hour)
		if got := verifyConn(v, tok); got != "invalid" {
			t.Fatalf("%s, want invalid", got)
		}
		if n := srv.count("/jwks"); n != jwksFetchAttempts {
			t.Fatalf("%d requests, want %d", n, jwksFetchAttempts)
		}
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t)
		v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/missing"}}, time.Millisecond, time.Hour)
		if got := verifyConn(v, tok); got != "invalid" {
			t.Fatalf("%s, want invalid", got)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }))
		t.Cleanup(srv.Close)
		v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL}}, time.Millisecond, time.Hour)
		if got := verifyConn(v, tok); got != "invalid" {
			t.Fatalf("%s, want invalid", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + "/jwks"
		srv.Close()
		v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: url}}, time.Millisecond, time.Hour)
		if got := verifyConn(v, tok); got != "invalid" {
			t.Fatalf("%s, want invalid", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t)
		srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey))
		srv.setStatus(0, 10*time.Second)
		v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, time.Millisecond, time.Hour)
		v.conn.jwks.client.Timeout = 200 * time.Millisecond
		start := time.Now()
		if got := verifyConn(v, tok); got != "invalid" {
			t.Fatalf("%s, want invalid", got)
		}
		// Two attempts of 200 ms each.
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("verification blocked %s", el)
		}
	})
}

func TestJWKSTemplatedEndpoint(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	// Both tenants use the kid "main" for different keys.
	srv.set("/acme/web/jwks", rsaJWK("main", "", &k.rsa.PublicKey))
	srv.set("/globex/web/jwks", rsaJWK("main", "", &k.rsa2.PublicKey))
	srv.set("/globex/mobile/jwks", ecJWK("main", "", &k.p256.PublicKey))
	v := jwksVerifier(t, Config{Token: TokenConfig{
		JWKSPublicEndpoint: srv.URL + "/{{tenant}}/{{app}}/jwks",
		IssuerRegex:        `^https://(?P<tenant>acme|globex)\.example\.com$`,
		AudienceRegex:      `^(?P<app>web|mobile)$`,
	}}, time.Millisecond, time.Hour)
	claims := func(iss string, aud ...string) jwt.MapClaims {
		return jwt.MapClaims{"sub": "1", "iss": iss, "aud": aud}
	}
	cases := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		claims jwt.MapClaims
		want   string
	}{
		{"acme web", jwt.SigningMethodRS256, k.rsa, claims("https://acme.example.com", "web"), "ok"},
		{"globex web", jwt.SigningMethodRS256, k.rsa2, claims("https://globex.example.com", "web"), "ok"},
		{"globex mobile, first matching aud fills the URL", jwt.SigningMethodES256, k.p256, claims("https://globex.example.com", "other", "mobile", "web"), "ok"},
		{"acme key presented as globex", jwt.SigningMethodRS256, k.rsa, claims("https://globex.example.com", "web"), "invalid"},
		{"globex key presented as acme", jwt.SigningMethodRS256, k.rsa2, claims("https://acme.example.com", "web"), "invalid"},
		{"acme mobile: no such set", jwt.SigningMethodES256, k.p256, claims("https://acme.example.com", "mobile"), "invalid"},
		{"unknown issuer", jwt.SigningMethodRS256, k.rsa, claims("https://evil.example.com", "web"), "invalid"},
		{"unknown audience", jwt.SigningMethodRS256, k.rsa, claims("https://acme.example.com", "tv"), "invalid"},
	}
	for _, tc := range cases {
		tok := signJWT(t, tc.method, tc.key, "main", tc.claims)
		if got := verifyConn(v, tok); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if n := srv.count("/evil/web/jwks") + srv.count("//web/jwks") + srv.count("/acme/tv/jwks") + srv.count("/acme//jwks"); n != 0 {
		t.Errorf("%d fetches for tokens whose claims do not match the regexes", n)
	}
	// Each tenant's set is fetched once, whatever the number of tokens.
	for range 5 {
		verifyConn(v, signJWT(t, jwt.SigningMethodRS256, k.rsa, "main", claims("https://acme.example.com", "web")))
	}
	if n := srv.count("/acme/web/jwks"); n != 1 {
		t.Errorf("acme set fetched %d times", n)
	}
	if n := srv.count("/globex/web/jwks"); n != 1 {
		t.Errorf("globex set fetched %d times", n)
	}
}

func TestJWKSResolve(t *testing.T) {
	t.Parallel()
	c := newJWKSCache("https://auth.example.com/{{realm}}/certs")
	cases := []struct {
		vars map[string]string
		want string // "" → error
	}{
		{map[string]string{"realm": "acme"}, "https://auth.example.com/acme/certs"},
		{nil, ""}, // an empty segment: not a clean path
		{map[string]string{"realm": ".."}, ""},
		{map[string]string{"realm": "a/../../admin"}, ""},
		{map[string]string{"realm": "acme/"}, ""},
	}
	for _, tc := range cases {
		got, err := c.resolve(tc.vars)
		if tc.want == "" && err == nil {
			t.Errorf("%v: resolved to %q, want an error", tc.vars, got)
		}
		if tc.want != "" && (err != nil || got != tc.want) {
			t.Errorf("%v: %q, %v; want %q", tc.vars, got, err, tc.want)
		}
	}
	host := newJWKSCache("https://{{tenant}}.example.com/jwks/")
	if got, err := host.resolve(map[string]string{"tenant": "acme"}); err != nil || got != "https://acme.example.com/jwks/" {
		t.Errorf("host template: %q, %v", got, err)
	}
	for _, bad := range []string{"evil.com/x?", "evil.com#", "user@evil.com", `a\b`} {
		if got, err := host.resolve(map[string]string{"tenant": bad}); err == nil {
			t.Errorf("host template value %q: resolved to %q", bad, got)
		}
	}
	if got, err := host.resolve(map[string]string{"tenant": "acme", "unused": "a/b"}); err != nil || got != "https://acme.example.com/jwks/" {
		t.Errorf("unused group with a slash: %q, %v", got, err)
	}
	if got := expandTemplate("a{{x}}b{{y}}c{{z", map[string]string{"x": "1"}); got != "a1bc{{z" {
		t.Errorf("expandTemplate: %q", got)
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	k := testKeys()
	padded := rsaJWK("padded", "", &k.rsa.PublicKey)
	padded["n"] = base64.URLEncoding.EncodeToString(k.rsa.PublicKey.N.Bytes())
	short := ecJWK("short", "", &k.p256.PublicKey)
	short["x"] = "AQ" // one byte: left-padded, then not on the curve
	offCurve := ecJWK("off", "", &k.p256.PublicKey)
	offCurve["y"] = offCurve["x"]
	body, err := json.Marshal(map[string]any{"keys": []any{
		padded,
		short,
		offCurve,
		map[string]string{"kty": "EC", "kid": "p224", "crv": "P-224", "x": "AA", "y": "AA"},
		map[string]string{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64.EncodeToString(make([]byte, 32))},
		map[string]string{"kty": "OKP", "kid": "shorted", "crv": "Ed25519", "x": "AAAA"},
		map[string]string{"kty": "RSA", "kid": "e0", "n": "AQAB", "e": ""},
		map[string]any{"kty": 5, "kid": "typed"},
		"not an object",
		okpJWK("ed", k.ed.Public()),
	}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["padded"] == nil || keys["ed"] == nil {
		t.Fatalf("keys %v", keys)
	}
	for _, bad := range []string{`{"keys":5}`, `[]`, `nope`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	if keys, err := parseJWKS([]byte(`{}`)); err != nil || len(keys) != 0 {
		t.Errorf("empty set: %v %v", keys, err)
	}
}

func TestSubscriptionTokenJWKS(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/subs", okpJWK("s1", k.ed.Public()))
	v := jwksVerifier(t, Config{
		Token:                    TokenConfig{HMACSecretKey: "conn"},
		SubscriptionTokenEnabled: true,
		SubscriptionToken:        TokenConfig{JWKSPublicEndpoint: srv.URL + "/subs"},
	}, time.Millisecond, time.Hour)
	if v.conn.jwks != nil || v.sub.jwks == nil {
		t.Fatal("JWKS must apply to subscription tokens only")
	}
	if got := verifySub(v, signJWT(t, jwt.SigningMethodEdDSA, k.ed, "s1", jwt.MapClaims{"channel": "c"})); got != "ok" {
		t.Errorf("subscription token via JWKS: %s", got)
	}
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodEdDSA, k.ed, "s1", jwt.MapClaims{})); got != "invalid" {
		t.Errorf("connection token via the subscription JWKS: %s", got)
	}
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodHS256, []byte("conn"), "", jwt.MapClaims{})); got != "ok" {
		t.Errorf("connection token: %s", got)
	}
	if got := verifySub(v, signJWT(t, jwt.SigningMethodHS256, []byte("conn"), "s1", jwt.MapClaims{"channel": "c"})); got != "invalid" {
		t.Errorf("subscription token with the connection key: %s", got)
	}
}

func TestJWKSSkipSignatureFetchesNothing(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t)
	v := jwksVerifier(t, Config{
		InsecureSkipTokenSignatureVerify: true,
		Token:                            TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"},
	}, time.Millisecond, time.Hour)
	if got := verifyConn(v, rawJWT(`{"alg":"RS256","kid":"x"}`, `{"sub":"1"}`, []byte("sig"))); got != "ok" {
		t.Fatalf("%s", got)
	}
	if n := srv.count("/jwks"); n != 0 {
		t.Fatalf("%d fetches", n)
	}
}
