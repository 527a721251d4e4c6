package e2e_test

// Asymmetric connection and subscription tokens through centrifuge-go:
// RS256/ES256 keys published by a JWKS endpoint that the test serves on
// 127.0.0.1 (client.token.jwks_public_endpoint, key chosen by kid) together
// with client.token.audience/issuer, and static PEM keys
// (client.token.rsa_public_key / ecdsa_public_key).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

const (
	jwAudience = "rotor-e2e"
	jwIssuer   = "https://issuer.rotor-e2e.test"
)

type jwKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec, ecOther   *ecdsa.PrivateKey
}

func jwNewKeys(t *testing.T) jwKeys {
	t.Helper()
	var k jwKeys
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa, &k.rsaOther} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []**ecdsa.PrivateKey{&k.ec, &k.ecOther} {
		if *p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func jwB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwRSAJWK(kid string, k *rsa.PrivateKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": jwB64(k.N.Bytes()), "e": jwB64(big.NewInt(int64(k.E)).Bytes())}
}

func jwECJWK(kid string, k *ecdsa.PrivateKey) map[string]any {
	coord := func(v *big.Int) string {
		b := make([]byte, 32)
		v.FillBytes(b)
		return jwB64(b)
	}
	return map[string]any{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
		"x": coord(k.X), "y": coord(k.Y)}
}

// jwJWKS is a JWKS endpoint on 127.0.0.1 whose key set can change; it counts
// the requests.
type jwJWKS struct {
	URL  string
	hits atomic.Int32
	doc  atomic.Value // []byte
}

func (j *jwJWKS) set(t *testing.T, keys ...map[string]any) {
	t.Helper()
	doc, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	j.doc.Store(doc)
}

// jwServeJWKS serves the RSA key as kid "rsa-1" and the EC key as kid "ec-1".
func jwServeJWKS(t *testing.T, k jwKeys) *jwJWKS {
	t.Helper()
	j := &jwJWKS{}
	j.set(t, jwRSAJWK("rsa-1", k.rsa), jwECJWK("ec-1", k.ec))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(j.doc.Load().([]byte))
	}))
	t.Cleanup(srv.Close)
	j.URL = srv.URL + "/.well-known/jwks.json"
	return j
}

// jwSign signs claims with method and key, setting kid when not empty.
func jwSign(t *testing.T, method jwt.SigningMethod, key crypto.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func jwClaims(user string, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// jwExpectConnected connects with token and checks the user ID through a
// client publication's ClientInfo (chat namespace).
func jwExpectConnected(t *testing.T, srv *harness.Server, what, token, user string) {
	t.Helper()
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: token})
	if err := c.Connect(); err != nil {
		t.Fatalf("%s: Connect: %v", what, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(eventsOf[centrifuge.ConnectedEvent](log)) == 0 {
		if len(eventsOf[centrifuge.DisconnectedEvent](log)) > 0 || time.Now().After(deadline) {
			t.Errorf("%s: want connected; events:\n%s", what, log)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := newSubscriptionWith(t, c, "chat:jwks", centrifuge.SubscriptionConfig{})
	expectSubscribeResult(t, s, 0)
	if _, err := s.Publish(ctx5(), []byte(`{"who":"me"}`)); err != nil {
		t.Errorf("%s: publish: %v", what, err)
		return
	}
	if p := s.nextPublication(t, 5*time.Second); p.Info == nil || p.Info.User != user {
		t.Errorf("%s: publication info %+v, want user %q", what, p.Info, user)
	}
}

// jwExpectRejected connects with token and wants disconnect 3500 "invalid
// token" without a connected event.
func jwExpectRejected(t *testing.T, srv *harness.Server, what, token string) {
	t.Helper()
	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: token})
	if err := c.Connect(); err != nil {
		t.Fatalf("%s: Connect: %v", what, err)
	}
	d, ok := tryWait[centrifuge.DisconnectedEvent](log, 5*time.Second, nil)
	if !ok {
		t.Errorf("%s: no disconnect within 5s, want 3500; events:\n%s", what, log)
		return
	}
	if d.Code != 3500 || d.Reason != "invalid token" {
		t.Errorf("%s: disconnected %d %q, want 3500 \"invalid token\"", what, d.Code, d.Reason)
	}
	if n := len(eventsOf[centrifuge.ConnectedEvent](log)); n != 0 {
		t.Errorf("%s: connected with a token that must be refused:\n%s", what, log)
	}
}

// TestJWKSTokens: with client.token.jwks_public_endpoint, audience and
// issuer, RS256 and ES256 tokens whose kid names a published key connect (aud
// as a string or an array containing the audience); an unknown kid, a
// signature by another key, a kid of the other key family, a wrong or
// missing aud, a wrong iss and an HS256 token (static keys are not used with
// JWKS) are refused with 3500. A subscription token verified through the same
// JWKS opens a private channel.
func TestJWKSTokens(t *testing.T) {
	t.Parallel()
	keys := jwNewKeys(t)
	jwks := jwServeJWKS(t, keys)
	cfg := harness.DefaultConfig()
	cfg.Set("client.token", map[string]any{
		"jwks_public_endpoint": jwks.URL,
		"audience":             jwAudience,
		"issuer":               jwIssuer,
	})
	srv := harness.Start(t, cfg)
	good := jwt.MapClaims{"aud": jwAudience, "iss": jwIssuer}
	rs, es := jwt.SigningMethodRS256, jwt.SigningMethodES256

	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		jwExpectConnected(t, srv, "RS256 kid rsa-1", jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("rsa-user", good)), "rsa-user")
		jwExpectConnected(t, srv, "ES256 kid ec-1, aud array",
			jwSign(t, es, keys.ec, "ec-1", jwClaims("ec-user", jwt.MapClaims{"aud": []string{"someone-else", jwAudience}, "iss": jwIssuer})), "ec-user")
	})
	for _, tc := range []struct {
		name  string
		token func() string
	}{
		{"unknown kid", func() string { return jwSign(t, rs, keys.rsa, "rsa-404", jwClaims("u", good)) }},
		{"no kid", func() string { return jwSign(t, rs, keys.rsa, "", jwClaims("u", good)) }},
		{"RS256 signed by another key", func() string { return jwSign(t, rs, keys.rsaOther, "rsa-1", jwClaims("u", good)) }},
		{"ES256 signed by another key", func() string { return jwSign(t, es, keys.ecOther, "ec-1", jwClaims("u", good)) }},
		{"ES256 token naming the RSA kid", func() string { return jwSign(t, es, keys.ec, "rsa-1", jwClaims("u", good)) }},
		{"wrong aud", func() string {
			return jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("u", jwt.MapClaims{"aud": "other-aud", "iss": jwIssuer}))
		}},
		{"aud array without the audience", func() string {
			return jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("u", jwt.MapClaims{"aud": []string{"a", "b"}, "iss": jwIssuer}))
		}},
		{"missing aud", func() string { return jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("u", jwt.MapClaims{"iss": jwIssuer})) }},
		{"wrong iss", func() string {
			return jwSign(t, es, keys.ec, "ec-1", jwClaims("u", jwt.MapClaims{"aud": jwAudience, "iss": "https://evil.test"}))
		}},
		{"missing iss", func() string { return jwSign(t, es, keys.ec, "ec-1", jwClaims("u", jwt.MapClaims{"aud": jwAudience})) }},
		{"HS256 with the default secret", func() string {
			return harness.Token(t, harness.HMACSecret, jwClaims("u", good))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			jwExpectRejected(t, srv, tc.name, tc.token())
		})
	}
	t.Run("subscription token", func(t *testing.T) {
		t.Parallel()
		c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("subber", good))})
		connectAndWait(t, c, log)
		ok := newSubscriptionWith(t, c, "$chat:jwks", centrifuge.SubscriptionConfig{
			Token: jwSign(t, es, keys.ec, "ec-1", jwClaims("subber", jwt.MapClaims{"channel": "$chat:jwks", "aud": jwAudience, "iss": jwIssuer})),
		})
		expectSubscribeResult(t, ok, 0)
		srv.MustAPI(t, "publish", map[string]any{"channel": "$chat:jwks", "data": map[string]any{"private": true}})
		if p := ok.nextPublication(t, 5*time.Second); !jsonEqual(p.Data, []byte(`{"private":true}`)) {
			t.Errorf("private channel publication %s", p.Data)
		}
		noDisconnects(t, log)
	})
	t.Run("expired token", func(t *testing.T) {
		t.Parallel()
		// Expiry is checked after the signature: connect error 109, the SDK
		// asks GetToken once and connects with the fresh token.
		var calls atomic.Int32
		c, log := newClient(t, srv, protoJSON, centrifuge.Config{
			Token: jwSign(t, es, keys.ec, "ec-1", jwClaims("late", jwt.MapClaims{"aud": jwAudience, "iss": jwIssuer,
				"exp": time.Now().Add(-time.Minute).Unix()})),
			GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
				calls.Add(1)
				return jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("late", good)), nil
			},
		})
		connectAndWait(t, c, log)
		var codes []uint32
		for _, e := range eventsOf[centrifuge.ErrorEvent](log) {
			var ce centrifuge.ConnectError
			if errors.As(e.Error, &ce) {
				if se, ok := serverError(ce.Err); ok {
					codes = append(codes, se.Code)
				}
			}
		}
		if len(codes) != 1 || codes[0] != 109 || calls.Load() != 1 {
			t.Errorf("connect errors %v and %d GetToken calls, want one 109 then one GetToken; events:\n%s", codes, calls.Load(), log)
		}
	})
	t.Cleanup(func() {
		if jwks.hits.Load() == 0 {
			t.Errorf("the JWKS endpoint was never requested")
		}
	})
}

// TestJWKSKeyRotation: a key added to the JWKS after the server has fetched
// it is found when a token names its kid (the server fetches the set again
// for an unknown kid); a kid that is still unknown stays refused.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	keys := jwNewKeys(t)
	jwks := jwServeJWKS(t, keys)
	cfg := harness.DefaultConfig()
	cfg.Set("client.token", map[string]any{"jwks_public_endpoint": jwks.URL})
	srv := harness.Start(t, cfg)
	rs := jwt.SigningMethodRS256

	jwExpectConnected(t, srv, "RS256 kid rsa-1", jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("one", nil)), "one")
	before := jwks.hits.Load()
	if before == 0 {
		t.Fatalf("the JWKS endpoint was never requested")
	}
	jwks.set(t, jwRSAJWK("rsa-1", keys.rsa), jwECJWK("ec-1", keys.ec), jwRSAJWK("rsa-2", keys.rsaOther))
	jwExpectConnected(t, srv, "RS256 kid rsa-2 added later", jwSign(t, rs, keys.rsaOther, "rsa-2", jwClaims("two", nil)), "two")
	if jwks.hits.Load() == before {
		t.Errorf("the JWKS endpoint was not requested again for the new kid")
	}
	jwExpectConnected(t, srv, "RS256 kid rsa-1 still valid", jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("three", nil)), "three")
	jwExpectRejected(t, srv, "kid rsa-3 unknown", jwSign(t, rs, keys.rsaOther, "rsa-3", jwClaims("u", nil)))
}

func jwPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestStaticPEMTokens: client.token.rsa_public_key and ecdsa_public_key (PEM)
// verify RS256/RS384 and ES256 tokens (a kid is irrelevant); tokens signed by
// other keys are refused with 3500, HS256 still works with hmac_secret_key.
func TestStaticPEMTokens(t *testing.T) {
	t.Parallel()
	keys := jwNewKeys(t)
	cfg := harness.DefaultConfig()
	cfg.Set("client.token.rsa_public_key", jwPEM(t, &keys.rsa.PublicKey))
	cfg.Set("client.token.ecdsa_public_key", jwPEM(t, &keys.ec.PublicKey))
	srv := harness.Start(t, cfg)

	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		jwExpectConnected(t, srv, "RS256", jwSign(t, jwt.SigningMethodRS256, keys.rsa, "", jwClaims("r256", nil)), "r256")
		jwExpectConnected(t, srv, "RS384 with a kid", jwSign(t, jwt.SigningMethodRS384, keys.rsa, "whatever", jwClaims("r384", nil)), "r384")
		jwExpectConnected(t, srv, "ES256", jwSign(t, jwt.SigningMethodES256, keys.ec, "", jwClaims("e256", nil)), "e256")
		jwExpectConnected(t, srv, "HS256", harness.UserToken(t, "h256"), "h256")
	})
	t.Run("RS256 other key", func(t *testing.T) {
		t.Parallel()
		jwExpectRejected(t, srv, "RS256 other key", jwSign(t, jwt.SigningMethodRS256, keys.rsaOther, "", jwClaims("u", nil)))
	})
	t.Run("ES256 other key", func(t *testing.T) {
		t.Parallel()
		jwExpectRejected(t, srv, "ES256 other key", jwSign(t, jwt.SigningMethodES256, keys.ecOther, "", jwClaims("u", nil)))
	})
}
