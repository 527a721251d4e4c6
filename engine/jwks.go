package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"path"
	"regexp/syntax"
	"strings"
	"sync"
	"time"
)

// JWKS defaults. Centrifugo fetches with a 1 s timeout and two attempts and keeps
// keys for an hour. A token naming a kid the cached set lacks (a key rotation) makes
// Rotor fetch the set at once, as Centrifugo does; callers wanting the same set share
// one fetch, and jwksMaxFetches bounds the fetches in flight for all URLs together,
// so tokens with made-up kids cost at most one fetch in flight per URL.
const (
	jwksFetchTimeout  = time.Second
	jwksFetchAttempts = 2
	jwksTTL           = time.Hour
	// jwksMinInterval is how long a known key stays usable past its TTL after a
	// failed refetch before the next refetch is tried (an outage is not hammered).
	jwksMinInterval = time.Second
	jwksMaxBody     = 1 << 20
	// jwksMaxSets bounds the cached key sets of a templated endpoint (one per
	// resolved URL).
	jwksMaxSets = 256
	// jwksMaxFetches bounds the fetches in flight of one endpoint (all its resolved
	// URLs together).
	jwksMaxFetches = 8
)

var (
	errJWKSUnknownKid = errors.New("engine: no JWK with the token's kid")
	errJWKSStatus     = errors.New("engine: JWKS endpoint answered an unexpected status")
	errJWKSURL        = errors.New("engine: invalid resolved JWKS URL")
)

// jwk is one usable public key of a key set.
type jwk struct {
	// alg is the JWK's alg; "" when absent.
	alg string
	// pub is *rsa.PublicKey, *ecdsa.PublicKey (P-256, P-384 or P-521) or
	// ed25519.PublicKey.
	pub any
}

// allows reports whether a token signed with alg may be verified with k: the alg
// must belong to the key's family (and curve), and equal the JWK's alg when it has
// one. An OKP key verifies EdDSA only.
func (k *jwk) allows(alg string) bool {
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512":
			return k.alg == "" || k.alg == alg
		}
	case *ecdsa.PublicKey:
		return esCurve(alg) != nil && pub.Curve == esCurve(alg) && (k.alg == "" || k.alg == alg)
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// jwksCache fetches the key sets of one configured endpoint and caches them per
// resolved URL, so that a kid of one tenant's set never verifies another tenant's
// token. It is safe for concurrent use.
//
// A set is refetched when a token names a kid it lacks (key rotation), at once, and
// after ttl. One fetch per URL is in flight at a time: callers arriving meanwhile
// wait for it. The fetch runs on its own goroutine under base (the node's context)
// with a timeout per attempt, so a caller whose own context ends (its client went
// away) stops waiting without failing the others. When a refetch fails, keys of the
// previous set stay usable.
type jwksCache struct {
	endpoint string
	// names are the placeholders of endpoint.
	names     []string
	templated bool
	client    *http.Client
	attempts  int
	ttl       time.Duration
	minGap    time.Duration
	maxSets   int
	// base is the parent of every fetch: the node's context, cancelled at Shutdown.
	base context.Context
	// fetching holds a token per fetch in flight (jwksMaxFetches).
	fetching chan struct{}

	mu   sync.Mutex
	sets map[string]*jwkSet // by resolved URL
}

// jwkSet is the cached key set of one URL. Guarded by jwksCache.mu.
type jwkSet struct {
	keys      map[string]*jwk
	fetched   time.Time // last successful fetch; zero: never
	attempted time.Time // end of the last fetch, successful or not
	lastErr   error     // of the last fetch
	// pending is non-nil while a fetch is running; it is closed when the fetch's
	// outcome is stored.
	pending chan struct{}
}

func newJWKSCache(endpoint string) *jwksCache {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	names, _ := templatePlaceholders(endpoint) // checked by checkJWKSEndpoint
	return &jwksCache{
		endpoint:  endpoint,
		names:     names,
		templated: len(names) > 0,
		client:    &http.Client{Transport: t, Timeout: jwksFetchTimeout},
		attempts:  jwksFetchAttempts,
		ttl:       jwksTTL,
		minGap:    jwksMinInterval,
		maxSets:   jwksMaxSets,
		base:      context.Background(),
		fetching:  make(chan struct{}, jwksMaxFetches),
		sets:      make(map[string]*jwkSet),
	}
}

// resolve fills the endpoint's placeholders from vars (absent ones become "").
// A placeholder stands for one host label or path segment: values holding URL
// delimiters are refused, as are results that are not http(s) URLs or whose path
// is not clean (a value smuggling "..").
func (c *jwksCache) resolve(vars map[string]string) (string, error) {
	if !c.templated {
		return c.endpoint, nil
	}
	for _, n := range c.names {
		if v := vars[n]; strings.ContainsAny(v, "/\\?#@") {
			return "", fmt.Errorf("%w: value %q of {{%s}}", errJWKSURL, v, n)
		}
	}
	s := expandTemplate(c.endpoint, vars)
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errJWKSURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: %q", errJWKSURL, s)
	}
	if u.Path != "" {
		clean := path.Clean(u.Path)
		if clean != u.Path && clean+"/" != u.Path {
			return "", fmt.Errorf("%w: path %q is not clean", errJWKSURL, u.Path)
		}
	}
	return s, nil
}

// key returns the JWK kid of the set at endpoint, fetching the set when needed. It
// waits for a fetch until ctx ends (then it returns ctx's error).
func (c *jwksCache) key(ctx context.Context, endpoint, kid string) (*jwk, error) {
	c.mu.Lock()
	s := c.setLocked(endpoint)
	now := time.Now()
	k := s.keys[kid]
	if k != nil && (now.Sub(s.fetched) < c.ttl || (s.pending == nil && now.Sub(s.attempted) < c.minGap)) {
		// Fresh, or stale while the refetch that was just tried failed.
		c.mu.Unlock()
		return k, nil
	}
	done := s.pending
	if done == nil {
		done = make(chan struct{})
		s.pending = done
		go c.refetch(endpoint, s, done)
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	k, err := s.keys[kid], s.lastErr
	c.mu.Unlock()
	switch {
	case k != nil:
		return k, nil
	case err != nil:
		return nil, err
	}
	return nil, errJWKSUnknownKid
}

// refetch fetches the set of endpoint into s and closes done. It runs on its own
// goroutine so that it outlives the caller that started it.
func (c *jwksCache) refetch(endpoint string, s *jwkSet, done chan struct{}) {
	var (
		keys map[string]*jwk
		err  error
	)
	select {
	case c.fetching <- struct{}{}:
		keys, err = c.fetch(c.base, endpoint)
		<-c.fetching
	case <-c.base.Done():
		err = c.base.Err()
	}
	c.mu.Lock()
	s.attempted, s.lastErr = time.Now(), err
	if err == nil {
		s.keys, s.fetched = keys, s.attempted
	}
	s.pending = nil
	c.mu.Unlock()
	close(done)
}

// setLocked returns the set of endpoint, creating it (and evicting another idle set
// when full). c.mu must be held.
func (c *jwksCache) setLocked(endpoint string) *jwkSet {
	if s := c.sets[endpoint]; s != nil {
		return s
	}
	if len(c.sets) >= c.maxSets {
		for u, other := range c.sets {
			if other.pending == nil {
				delete(c.sets, u)
				break
			}
		}
	}
	s := &jwkSet{}
	c.sets[endpoint] = s
	return s
}

// fetch downloads and parses the set at endpoint, trying c.attempts times (each
// bounded by the client's timeout) while ctx lasts.
func (c *jwksCache) fetch(ctx context.Context, endpoint string) (map[string]*jwk, error) {
	var err error
	for range c.attempts {
		var body []byte
		if body, err = c.get(ctx, endpoint); err == nil {
			return parseJWKS(body)
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

func (c *jwksCache) get(ctx context.Context, endpoint string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %d", errJWKSStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBody {
		return nil, fmt.Errorf("engine: JWKS larger than %d bytes", jwksMaxBody)
	}
	return body, nil
}

// rawJWK holds the members of a JWK Rotor reads (RFC 7517, RFC 7518 §6, RFC 8037).
type rawJWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWK Set. Keys for another use than signatures, of unsupported
// types or malformed are skipped, so that one odd key does not disable the others.
func parseJWKS(body []byte) (map[string]*jwk, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("engine: JWKS: %w", err)
	}
	keys := make(map[string]*jwk, len(set.Keys))
	for _, raw := range set.Keys {
		var r rawJWK
		if json.Unmarshal(raw, &r) != nil || (r.Use != "" && r.Use != "sig") {
			continue
		}
		if k, err := r.toJWK(); err == nil {
			keys[r.Kid] = k
		}
	}
	return keys, nil
}

func (r *rawJWK) toJWK() (*jwk, error) {
	switch r.Kty {
	case "RSA":
		n, err := b64url(r.N)
		if err != nil || len(n) == 0 {
			return nil, errors.New("bad n")
		}
		e, err := b64url(r.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad e")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 2 {
			return nil, errors.New("bad e")
		}
		return &jwk{alg: r.Alg, pub: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}}, nil
	case "EC":
		var curve elliptic.Curve
		switch r.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := b64url(r.X)
		y, errY := b64url(r.Y)
		if errX != nil || errY != nil || len(x) > size || len(y) > size {
			return nil, errors.New("bad coordinates")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4 // uncompressed
		copy(point[1+size-len(x):1+size], x)
		copy(point[1+2*size-len(y):], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, err
		}
		return &jwk{alg: r.Alg, pub: pub}, nil
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, errors.New("unsupported curve")
		}
		x, err := b64url(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad x")
		}
		return &jwk{alg: r.Alg, pub: ed25519.PublicKey(x)}, nil
	}
	return nil, errors.New("unsupported key type")
}

// b64url decodes base64url, with or without padding.
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// templatePlaceholders lists the names of the {{name}} placeholders of s.
func templatePlaceholders(s string) ([]string, error) {
	var names []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return names, nil
		}
		s = s[i+2:]
		j := strings.Index(s, "}}")
		if j < 0 {
			return nil, errors.New("unclosed {{ placeholder")
		}
		names = append(names, s[:j])
		s = s[j+2:]
	}
}

// expandTemplate replaces each {{name}} of s with vars[name] ("" when absent).
func expandTemplate(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(vars[s[i+2:i+2+j]])
		s = s[i+2+j+2:]
	}
	b.WriteString(s)
	return b.String()
}

// checkJWKSTemplateSafety enforces Centrifugo's rule for templated JWKS endpoints:
// the values come from claims checked before the signature, so every regex named
// group used as a placeholder must be an explicit list of fixed strings
// ("acme|globex"), and the issuer and audience regexes must not use character
// classes at all. Otherwise a token could point the key fetch at any server.
func checkJWKSTemplateSafety(endpoint, issuerRegex, audienceRegex string) error {
	names, err := templatePlaceholders(endpoint)
	if err != nil || len(names) == 0 {
		return err
	}
	used := make(map[string]bool, len(names))
	for _, n := range names {
		used[n] = true
	}
	for _, rc := range []struct{ key, pattern string }{
		{"issuer_regex", issuerRegex},
		{"audience_regex", audienceRegex},
	} {
		if rc.pattern == "" {
			continue
		}
		if err := rejectCharClasses(rc.pattern); err != nil {
			return fmt.Errorf("%s %w; with a templated JWKS endpoint use an explicit list of values (a|b|c)", rc.key, err)
		}
		re, err := syntax.Parse(rc.pattern, syntax.Perl)
		if err != nil {
			return fmt.Errorf("%s: %w", rc.key, err)
		}
		var bad string
		var walk func(*syntax.Regexp)
		walk = func(r *syntax.Regexp) {
			if r.Op == syntax.OpCapture && used[r.Name] && len(r.Sub) > 0 && !isFixedStrings(r.Sub[0]) && bad == "" {
				bad = r.Name
			}
			for _, sub := range r.Sub {
				walk(sub)
			}
		}
		walk(re)
		if bad != "" {
			return fmt.Errorf("%s group %q fills the JWKS endpoint but is not an explicit list of values (a|b|c)", rc.key, bad)
		}
	}
	return nil
}

// rejectCharClasses refuses bracket classes and \d \w \s \p (and their negations)
// written in pattern.
func rejectCharClasses(pattern string) error {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '[':
			return errors.New("uses a character class")
		case '\\':
			if i+1 < len(pattern) {
				switch c := pattern[i+1]; c {
				case 'd', 'D', 'w', 'W', 's', 'S', 'p', 'P':
					return fmt.Errorf("uses the character class \\%c", c)
				}
				i++
			}
		}
	}
	return nil
}

// isFixedStrings reports whether r matches only a finite set of fixed strings. The
// parser may factor "a1|a2" into a1 followed by the class [12], so classes are
// accepted here; written classes were rejected before.
func isFixedStrings(r *syntax.Regexp) bool {
	switch r.Op {
	case syntax.OpLiteral, syntax.OpEmptyMatch, syntax.OpCharClass:
		return true
	case syntax.OpConcat, syntax.OpCapture, syntax.OpAlternate:
		for _, sub := range r.Sub {
			if !isFixedStrings(sub) {
				return false
			}
		}
		return true
	}
	return false
}
