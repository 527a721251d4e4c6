package e2e_test

import (
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/e2e/harness"
)

// TestJWKSNewKidConnectsAtOnce: right after the server fetched the JWKS, a token
// naming a kid added since connects without waiting for any fetch interval: the
// set is fetched again at once (Centrifugo: about 40 ms on loopback).
func TestJWKSNewKidConnectsAtOnce(t *testing.T) {
	t.Parallel()
	keys := jwNewKeys(t)
	jwks := jwServeJWKS(t, keys)
	cfg := harness.DefaultConfig()
	cfg.Set("client.token", map[string]any{"jwks_public_endpoint": jwks.URL})
	srv := harness.Start(t, cfg)
	rs := jwt.SigningMethodRS256

	first, firstLog := newClient(t, srv, protoJSON, centrifuge.Config{Token: jwSign(t, rs, keys.rsa, "rsa-1", jwClaims("one", nil))})
	connectAndWait(t, first, firstLog)
	jwks.set(t, jwRSAJWK("rsa-1", keys.rsa), jwRSAJWK("rsa-2", keys.rsaOther))
	before := jwks.hits.Load()

	c, log := newClient(t, srv, protoJSON, centrifuge.Config{Token: jwSign(t, rs, keys.rsaOther, "rsa-2", jwClaims("two", nil))})
	start := time.Now()
	connectAndWait(t, c, log)
	el := time.Since(start)
	t.Logf("connect with a new kid took %v", el)
	if jwks.hits.Load() == before {
		t.Errorf("the JWKS endpoint was not requested again for the new kid")
	}
	if el > 500*time.Millisecond {
		t.Errorf("connect with a new kid took %v, want well under a second", el)
	}
}
