package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWKSNewKidAtOnce: a token naming a kid the cached set lacks makes the set be
// fetched at once, not after the minimum interval since the previous fetch (1 s).
func TestJWKSNewKidAtOnce(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey))
	v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, jwksMinInterval, time.Hour)
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodRS256, k.rsa, "k1", jwt.MapClaims{"sub": "1"})); got != "ok" {
		t.Fatalf("k1: %s", got)
	}
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey), rsaJWK("k2", "", &k.rsa2.PublicKey))
	tok2 := signJWT(t, jwt.SigningMethodRS256, k.rsa2, "k2", jwt.MapClaims{"sub": "1"})
	start := time.Now()
	if got := verifyConn(v, tok2); got != "ok" {
		t.Fatalf("k2: %s", got)
	}
	el := time.Since(start)
	t.Logf("new kid verified in %v", el)
	if el > jwksMinInterval/2 {
		t.Fatalf("new kid took %v, want well under the %v minimum interval", el, jwksMinInterval)
	}
}

// TestJWKSWaitCancelled: a caller whose context ends stops waiting for a fetch at
// once, without ending the fetch other callers may share; the node's context ends
// the fetch itself (the JWKS server sees the request go away).
func TestJWKSWaitCancelled(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey))
	srv.setStatus(0, 10*time.Second)
	v := jwksVerifier(t, Config{Token: TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}}, jwksMinInterval, time.Hour)
	base, stop := context.WithCancel(context.Background())
	defer stop()
	v.bind(base)
	tok := signJWT(t, jwt.SigningMethodRS256, k.rsa, "k1", jwt.MapClaims{"sub": "1"})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := v.verifyConnection(ctx, tok)
		done <- err
	}()
	waitFor(t, 5*time.Second, "the JWKS request", func() bool { return srv.count("/jwks") == 1 })
	cancel()
	if err := waitSignal(t, done, time.Second, "the verification to give up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("verification error %v, want context.Canceled", err)
	}
	// The fetch goes on for others: a second caller joins it instead of starting
	// another request, and both the fetch and its wait end with the node's context.
	go func() {
		_, err := v.verifyConnection(context.Background(), tok)
		done <- err
	}()
	waitFor(t, 5*time.Second, "the second caller to wait", func() bool {
		v.conn.jwks.mu.Lock()
		defer v.conn.jwks.mu.Unlock()
		return v.conn.jwks.sets[srv.URL+"/jwks"].pending != nil
	})
	stop()
	waitSignal(t, srv.gone, 2*time.Second, "the JWKS server to see the fetch cancelled")
	if err := waitSignal(t, done, 2*time.Second, "the second verification"); err == nil {
		t.Fatal("second verification succeeded without keys")
	}
	if n := srv.count("/jwks"); n != 1 {
		t.Fatalf("%d JWKS requests, want the one shared fetch", n)
	}
}

// TestConnectJWKSWaitEndsWithSession: a connect whose token needs a JWKS fetch that
// hangs returns as soon as the session ends (here the peer going away), not after
// the fetch's timeout.
func TestConnectJWKSWaitEndsWithSession(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t)
	srv.set("/jwks", rsaJWK("k1", "", &k.rsa.PublicKey))
	srv.setStatus(0, 10*time.Second)
	cfg := testConfig()
	cfg.TokenHMACSecretKey = ""
	cfg.Token = TokenConfig{JWKSPublicEndpoint: srv.URL + "/jwks"}
	n := newTestNode(t, cfg)
	for _, jv := range []*jwtVerifier{n.verifier.Load().conn, n.verifier.Load().sub} {
		jv.jwks.client.Timeout = 10 * time.Second
	}
	c, tr := newTestClient(n)
	tok := signJWT(t, jwt.SigningMethodRS256, k.rsa, "k1", jwt.MapClaims{"sub": "1"})
	handled := make(chan struct{})
	go func() {
		c.HandleFrame([]byte(`{"id":1,"connect":{"token":"` + tok + `"}}`))
		close(handled)
	}()
	waitFor(t, 5*time.Second, "the JWKS request", func() bool { return srv.count("/jwks") == 1 })
	start := time.Now()
	c.PeerGone()
	tr.Close(DisconnectConnectionClosed)
	waitSignal(t, handled, time.Second, "the connect handler to return")
	t.Logf("connect returned %v after the peer went away", time.Since(start))
}
