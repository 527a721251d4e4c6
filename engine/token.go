package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// This file verifies connection and subscription JWTs as Centrifugo does
// (shared/spec/auth.md §1–3). golang-jwt supplies the signature algorithms only: the
// parsing, key selection, claim checks and their order are Rotor's, because
// Centrifugo's rules (fractional NumericDates, strict exp/nbf without leeway, aud and
// iss regexes feeding the JWKS URL, previous HMAC key) differ from golang-jwt's
// validator.

// TokenConfig configures how one kind of JWT is verified: client.token.* for
// connection tokens (and subscription tokens unless Config.SubscriptionTokenEnabled),
// client.subscription_token.* otherwise. The zero value verifies nothing: every token
// is invalid.
type TokenConfig struct {
	// HMACSecretKey verifies HS256, HS384 and HS512 tokens; the raw string bytes are
	// the key (hmac_secret_key). "" → HMAC tokens are invalid (unless the previous
	// key applies).
	HMACSecretKey string
	// HMACPreviousSecretKey is tried when an HS* token does not verify with
	// HMACSecretKey, for key rotation (hmac_previous_secret_key). "" → none.
	HMACPreviousSecretKey string
	// HMACPreviousSecretKeyValidUntil is the unix second after which the previous
	// key is no longer tried (hmac_previous_secret_key_valid_until); 0 → no limit.
	HMACPreviousSecretKeyValidUntil int64
	// RSAPublicKey is a PEM public key (PKIX, PKCS #1 or a certificate) verifying
	// RS256, RS384 and RS512 tokens (rsa_public_key). "" → RSA tokens are invalid.
	RSAPublicKey string
	// ECDSAPublicKey is a PEM public key (PKIX or a certificate) verifying the ES*
	// algorithm of its curve: P-256 → ES256, P-384 → ES384, P-521 → ES512
	// (ecdsa_public_key). "" → ECDSA tokens are invalid.
	ECDSAPublicKey string
	// JWKSPublicEndpoint is an http(s) URL serving a JSON Web Key Set
	// (jwks_public_endpoint). When set, the key is chosen by the token's kid and the
	// static keys above are not used. It may hold {{name}} placeholders, filled from
	// the named groups of IssuerRegex and AudienceRegex. "" → no JWKS.
	JWKSPublicEndpoint string
	// Audience, when set, must be one of the token's aud values (audience).
	Audience string
	// AudienceRegex, when set, must match one of the token's aud values
	// (audience_regex, unanchored unless the pattern anchors it). Only one of
	// Audience and AudienceRegex may be set.
	AudienceRegex string
	// Issuer, when set, must equal the token's iss (issuer).
	Issuer string
	// IssuerRegex, when set, must match the token's iss (issuer_regex, unanchored
	// unless the pattern anchors it). Only one of Issuer and IssuerRegex may be set.
	IssuerRegex string
	// UserIDClaim names the top-level claim holding the user ID (user_id_claim);
	// "" → sub. Must match ^[a-zA-Z_]+$.
	UserIDClaim string
	// InsecureSkipJWKSEndpointSafetyCheck accepts issuer/audience regex groups used
	// in JWKSPublicEndpoint placeholders that are not explicit lists of values
	// (insecure_skip_jwks_endpoint_safety_check). Unsafe: the token then chooses
	// where keys are fetched from.
	InsecureSkipJWKSEndpointSafetyCheck bool
}

// Centrifugo key prefixes naming TokenConfig values in errors.
const (
	keyToken             = "client.token"
	keySubscriptionToken = "client.subscription_token"
)

// userIDClaimRe is Centrifugo's rule for user_id_claim: a top-level claim name.
var userIDClaimRe = regexp.MustCompile(`^[a-zA-Z_]+$`)

// connectionTokenConfig is Token with the legacy TokenHMACSecretKey as its HMAC key
// when Token.HMACSecretKey is empty.
func (c *Config) connectionTokenConfig() TokenConfig {
	tc := c.Token
	if tc.HMACSecretKey == "" {
		tc.HMACSecretKey = c.TokenHMACSecretKey
	}
	return tc
}

// validateTokens checks client.token.* and, when enabled,
// client.subscription_token.* (its user_id_claim is checked always, as Centrifugo
// does).
func (c *Config) validateTokens() error {
	_, err := buildTokenVerifier(c)
	if err != nil {
		return err
	}
	if !c.SubscriptionTokenEnabled {
		return checkUserIDClaim(c.SubscriptionToken.UserIDClaim, keySubscriptionToken)
	}
	return nil
}

func checkUserIDClaim(claim, prefix string) error {
	if claim != "" && !userIDClaimRe.MatchString(claim) {
		return fmt.Errorf("%s.user_id_claim: %q must match %s", prefix, claim, userIDClaimRe)
	}
	return nil
}

// Verification errors. Every one of them means "invalid token" to the caller except
// errTokenExpired.
var (
	errTokenExpired       = errors.New("engine: token expired")
	errTokenMalformed     = errors.New("engine: malformed token")
	errTokenAlgorithm     = errors.New("engine: no key configured for the token's algorithm")
	errTokenSignature     = errors.New("engine: token signature does not verify")
	errTokenAudience      = errors.New("engine: token audience does not match")
	errTokenIssuer        = errors.New("engine: token issuer does not match")
	errTokenChannelClaim  = errors.New("engine: channel claim in a connection token")
	errTokenNoChannel     = errors.New("engine: subscription token without channel claim")
	errTokenNoKeyID       = errors.New("engine: token has no kid for the JWKS")
	errTokenKeyAlgorithm  = errors.New("engine: token algorithm does not fit the JWK")
	errTokenClaimsInvalid = errors.New("engine: invalid token claims")
)

// tokenVerifier verifies connection tokens with conn and subscription tokens with
// sub (the same verifier unless client.subscription_token.enabled). It is safe for
// concurrent use. Verification may block on a JWKS fetch: at most the fetch
// timeout (times its attempts) plus the minimum interval between fetches.
type tokenVerifier struct {
	conn, sub *jwtVerifier
}

// newTokenVerifier builds the verifiers of cfg, which Validate has accepted.
func newTokenVerifier(cfg *Config) *tokenVerifier {
	v, err := buildTokenVerifier(cfg)
	if err != nil {
		// Validate runs buildTokenVerifier itself, so this cannot happen.
		panic("engine: validated token config does not build: " + err.Error())
	}
	return v
}

func buildTokenVerifier(cfg *Config) (*tokenVerifier, error) {
	tc := cfg.connectionTokenConfig()
	conn, err := newJWTVerifier(&tc, keyToken, cfg.InsecureSkipTokenSignatureVerify)
	if err != nil {
		return nil, err
	}
	v := &tokenVerifier{conn: conn, sub: conn}
	if cfg.SubscriptionTokenEnabled {
		if v.sub, err = newJWTVerifier(&cfg.SubscriptionToken, keySubscriptionToken, cfg.InsecureSkipTokenSignatureVerify); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// fetches reports whether checking a connection (sub false) or subscription token may
// block on a JWKS fetch, so that callers make a cancellable context only then.
func (v *tokenVerifier) fetches(sub bool) bool {
	jv := v.conn
	if sub {
		jv = v.sub
	}
	return jv.jwks != nil && !jv.skipSig
}

// bind makes ctx (the node's, cancelled at Shutdown) the parent of every JWKS fetch.
func (v *tokenVerifier) bind(ctx context.Context) {
	for _, jv := range []*jwtVerifier{v.conn, v.sub} {
		if jv.jwks != nil {
			jv.jwks.base = ctx
		}
	}
}

// jwtVerifier applies one TokenConfig.
type jwtVerifier struct {
	hmacKey, prevHMACKey []byte
	prevValidUntil       int64
	rsaKey               *rsa.PublicKey
	ecKey                *ecdsa.PublicKey
	// jwks, when not nil, replaces the static keys.
	jwks       *jwksCache
	audience   string
	audienceRe *regexp.Regexp
	issuer     string
	issuerRe   *regexp.Regexp
	userClaim  string
	skipSig    bool
	now        func() time.Time
}

// newJWTVerifier parses tc; errors name the key under prefix.
func newJWTVerifier(tc *TokenConfig, prefix string, skipSignature bool) (*jwtVerifier, error) {
	v := &jwtVerifier{
		prevValidUntil: tc.HMACPreviousSecretKeyValidUntil,
		audience:       tc.Audience,
		issuer:         tc.Issuer,
		userClaim:      tc.UserIDClaim,
		skipSig:        skipSignature,
		now:            time.Now,
	}
	if tc.Audience != "" && tc.AudienceRegex != "" {
		return nil, fmt.Errorf("%s.audience and %s.audience_regex: configure only one of them", prefix, prefix)
	}
	if tc.Issuer != "" && tc.IssuerRegex != "" {
		return nil, fmt.Errorf("%s.issuer and %s.issuer_regex: configure only one of them", prefix, prefix)
	}
	var err error
	if tc.AudienceRegex != "" {
		if v.audienceRe, err = regexp.Compile(tc.AudienceRegex); err != nil {
			return nil, fmt.Errorf("%s.audience_regex: %w", prefix, err)
		}
	}
	if tc.IssuerRegex != "" {
		if v.issuerRe, err = regexp.Compile(tc.IssuerRegex); err != nil {
			return nil, fmt.Errorf("%s.issuer_regex: %w", prefix, err)
		}
	}
	if err := checkUserIDClaim(tc.UserIDClaim, prefix); err != nil {
		return nil, err
	}
	if tc.HMACSecretKey != "" {
		v.hmacKey = []byte(tc.HMACSecretKey)
	}
	if tc.HMACPreviousSecretKey != "" {
		v.prevHMACKey = []byte(tc.HMACPreviousSecretKey)
	}
	if tc.RSAPublicKey != "" {
		if v.rsaKey, err = parseRSAPublicKeyPEM(tc.RSAPublicKey); err != nil {
			return nil, fmt.Errorf("%s.rsa_public_key: %w", prefix, err)
		}
	}
	if tc.ECDSAPublicKey != "" {
		if v.ecKey, err = parseECDSAPublicKeyPEM(tc.ECDSAPublicKey); err != nil {
			return nil, fmt.Errorf("%s.ecdsa_public_key: %w", prefix, err)
		}
	}
	if tc.JWKSPublicEndpoint != "" {
		if err := checkJWKSEndpoint(tc.JWKSPublicEndpoint); err != nil {
			return nil, fmt.Errorf("%s.jwks_public_endpoint: %w", prefix, err)
		}
		if !tc.InsecureSkipJWKSEndpointSafetyCheck {
			if err := checkJWKSTemplateSafety(tc.JWKSPublicEndpoint, tc.IssuerRegex, tc.AudienceRegex); err != nil {
				return nil, fmt.Errorf("%s.jwks_public_endpoint: %w (or set %s.insecure_skip_jwks_endpoint_safety_check)", prefix, err, prefix)
			}
		}
		v.jwks = newJWKSCache(tc.JWKSPublicEndpoint)
	}
	return v, nil
}

func parseRSAPublicKeyPEM(s string) (*rsa.PublicKey, error) {
	key, err := parsePublicKeyPEM(s)
	if err != nil {
		return nil, err
	}
	rk, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("not an RSA public key (%T)", key)
	}
	return rk, nil
}

func parseECDSAPublicKeyPEM(s string) (*ecdsa.PublicKey, error) {
	key, err := parsePublicKeyPEM(s)
	if err != nil {
		return nil, err
	}
	ek, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("not an ECDSA public key (%T)", key)
	}
	return ek, nil
}

// parsePublicKeyPEM reads the first PEM block: a PKIX public key, a certificate or
// (for RSA) a PKCS #1 public key.
func parsePublicKeyPEM(s string) (any, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if key, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return key, nil
	}
	if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
		return cert.PublicKey, nil
	}
	if key, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return key, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key or certificate", block.Type)
}

// checkJWKSEndpoint checks the endpoint template as a URL (placeholders standing
// for a plain word, so that they may appear in the host too): http or https, a
// host, and closed placeholders.
func checkJWKSEndpoint(endpoint string) error {
	names, err := templatePlaceholders(endpoint)
	if err != nil {
		return err
	}
	vars := make(map[string]string, len(names))
	for _, n := range names {
		vars[n] = "x"
	}
	u, err := url.Parse(expandTemplate(endpoint, vars))
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must be an http:// or https:// URL", endpoint)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", endpoint)
	}
	return nil
}

// jwsMethods are the algorithms Rotor verifies, by JWS alg name.
var jwsMethods = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256, "HS384": jwt.SigningMethodHS384, "HS512": jwt.SigningMethodHS512,
	"RS256": jwt.SigningMethodRS256, "RS384": jwt.SigningMethodRS384, "RS512": jwt.SigningMethodRS512,
	"ES256": jwt.SigningMethodES256, "ES384": jwt.SigningMethodES384, "ES512": jwt.SigningMethodES512,
	"EdDSA": jwt.SigningMethodEdDSA,
}

// esCurve is the curve each ES* algorithm requires.
func esCurve(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}

// jwsHeader is the part of the JOSE header Rotor reads.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
}

// parsedJWS is a decoded compact JWS.
type parsedJWS struct {
	header       jwsHeader
	signingInput string // header.payload, as signed
	payload      []byte
	signature    []byte
}

func parseJWS(token string) (parsedJWS, error) {
	var p parsedJWS
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot2 == dot1 {
		return p, errTokenMalformed
	}
	// A third dot lands in the payload segment, which then fails to decode.
	header, err := base64.RawURLEncoding.DecodeString(token[:dot1])
	if err != nil {
		return p, errTokenMalformed
	}
	if err := json.Unmarshal(header, &p.header); err != nil {
		return p, errTokenMalformed
	}
	if p.payload, err = base64.RawURLEncoding.DecodeString(token[dot1+1 : dot2]); err != nil {
		return p, errTokenMalformed
	}
	if p.signature, err = base64.RawURLEncoding.DecodeString(token[dot2+1:]); err != nil {
		return p, errTokenMalformed
	}
	p.signingInput = token[:dot2]
	return p, nil
}

// registeredClaims are the RFC 7519 claims, decoded as Centrifugo does.
type registeredClaims struct {
	Issuer    string       `json:"iss,omitempty"`
	Subject   string       `json:"sub,omitempty"`
	Audience  audience     `json:"aud,omitempty"`
	ExpiresAt *numericDate `json:"exp,omitempty"`
	NotBefore *numericDate `json:"nbf,omitempty"`
	// IssuedAt is decoded (a malformed iat makes the token invalid) but not checked.
	IssuedAt *numericDate `json:"iat,omitempty"`
	ID       string       `json:"jti,omitempty"`
}

func (r *registeredClaims) registered() *registeredClaims { return r }

// jwtClaims is a claims struct embedding registeredClaims.
type jwtClaims interface {
	registered() *registeredClaims
}

// audience is the aud claim: a string or an array of strings. null and other types
// are malformed.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		*a = audience{v}
		return nil
	case []any:
		out := make(audience, len(v))
		for i, it := range v {
			s, ok := it.(string)
			if !ok {
				return errors.New("aud: array item is not a string")
			}
			out[i] = s
		}
		*a = out
		return nil
	}
	return errors.New("aud: not a string or an array of strings")
}

// numericDate is a NumericDate: seconds since the epoch, fractional allowed, given
// as a JSON number or a numeric string.
type numericDate struct {
	sec  int64
	nsec int64 // 0 ≤ nsec < 1e9
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("invalid NumericDate")
	}
	f, err := n.Float64()
	if err != nil {
		return errors.New("invalid NumericDate")
	}
	switch {
	case f >= math.MaxInt64:
		*d = numericDate{sec: math.MaxInt64}
	case f <= math.MinInt64:
		*d = numericDate{sec: math.MinInt64}
	default:
		sec, frac := math.Modf(f)
		d.sec, d.nsec = int64(sec), int64(frac*1e9)
		if d.nsec < 0 {
			d.sec--
			d.nsec += 1e9
		}
	}
	return nil
}

// cmp returns -1, 0 or +1 as d is before, at or after t.
func (d *numericDate) cmp(t time.Time) int {
	s, ns := t.Unix(), int64(t.Nanosecond())
	switch {
	case d.sec < s || d.sec == s && d.nsec < ns:
		return -1
	case d.sec == s && d.nsec == ns:
		return 0
	}
	return 1
}

// verify decodes token into claims and checks, in Centrifugo's order: the issuer and
// audience regexes (whose groups fill the JWKS URL), the signature, then the exact
// audience and issuer. The caller checks its own claims, then calls checkTime. It
// returns the payload (for userID).
func (v *jwtVerifier) verify(ctx context.Context, token string, claims jwtClaims) ([]byte, error) {
	p, err := parseJWS(token)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(p.payload, claims); err != nil {
		return nil, fmt.Errorf("%w: %v", errTokenClaimsInvalid, err)
	}
	rc := claims.registered()
	vars, err := v.templateVars(rc)
	if err != nil {
		return nil, err
	}
	if !v.skipSig {
		if v.jwks != nil {
			err = v.verifyJWKS(ctx, &p, vars)
		} else {
			err = v.verifyStatic(&p)
		}
		if err != nil {
			return nil, err
		}
	}
	if v.audience != "" && !containsConstTime(rc.Audience, v.audience) {
		return nil, errTokenAudience
	}
	if v.issuer != "" && subtle.ConstantTimeCompare([]byte(rc.Issuer), []byte(v.issuer)) != 1 {
		return nil, errTokenIssuer
	}
	return p.payload, nil
}

func containsConstTime(list []string, s string) bool {
	for _, it := range list {
		if subtle.ConstantTimeCompare([]byte(it), []byte(s)) == 1 {
			return true
		}
	}
	return false
}

// templateVars checks the issuer and audience regexes and collects their named
// groups (the first matching aud value supplies the audience groups).
func (v *jwtVerifier) templateVars(rc *registeredClaims) (map[string]string, error) {
	var vars map[string]string
	collect := func(re *regexp.Regexp, m []string) {
		for i, name := range re.SubexpNames() {
			if i > 0 && name != "" {
				if vars == nil {
					vars = make(map[string]string)
				}
				vars[name] = m[i]
			}
		}
	}
	if v.issuerRe != nil {
		m := v.issuerRe.FindStringSubmatch(rc.Issuer)
		if m == nil {
			return nil, errTokenIssuer
		}
		collect(v.issuerRe, m)
	}
	if v.audienceRe != nil {
		matched := false
		for _, aud := range rc.Audience {
			if m := v.audienceRe.FindStringSubmatch(aud); m != nil {
				collect(v.audienceRe, m)
				matched = true
				break
			}
		}
		if !matched {
			return nil, errTokenAudience
		}
	}
	return vars, nil
}

// verifyStatic checks the signature with the configured static keys.
func (v *jwtVerifier) verifyStatic(p *parsedJWS) error {
	alg := p.header.Alg
	m := jwsMethods[alg]
	switch alg {
	case "HS256", "HS384", "HS512":
		usePrev := len(v.prevHMACKey) > 0 && (v.prevValidUntil == 0 || v.now().Unix() <= v.prevValidUntil)
		if len(v.hmacKey) == 0 && !usePrev {
			return errTokenAlgorithm
		}
		if len(v.hmacKey) > 0 && m.Verify(p.signingInput, p.signature, v.hmacKey) == nil {
			return nil
		}
		if usePrev && m.Verify(p.signingInput, p.signature, v.prevHMACKey) == nil {
			return nil
		}
		return errTokenSignature
	case "RS256", "RS384", "RS512":
		if v.rsaKey == nil {
			return errTokenAlgorithm
		}
		return signatureErr(m.Verify(p.signingInput, p.signature, v.rsaKey))
	case "ES256", "ES384", "ES512":
		if v.ecKey == nil || v.ecKey.Curve != esCurve(alg) {
			return errTokenAlgorithm
		}
		return signatureErr(m.Verify(p.signingInput, p.signature, v.ecKey))
	}
	return errTokenAlgorithm // none, EdDSA without JWKS, PS*, unknown
}

func signatureErr(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %v", errTokenSignature, err)
	}
	return nil
}

// verifyJWKS checks the signature with the JWK named by the token's kid.
func (v *jwtVerifier) verifyJWKS(ctx context.Context, p *parsedJWS, vars map[string]string) error {
	if p.header.Kid == "" {
		return errTokenNoKeyID
	}
	endpoint, err := v.jwks.resolve(vars)
	if err != nil {
		return err
	}
	key, err := v.jwks.key(ctx, endpoint, p.header.Kid)
	if err != nil {
		return err
	}
	if !key.allows(p.header.Alg) {
		return errTokenKeyAlgorithm
	}
	return signatureErr(jwsMethods[p.header.Alg].Verify(p.signingInput, p.signature, key.pub))
}

// checkTime applies exp (strictly in the future) and nbf (strictly in the past),
// without leeway.
func (v *jwtVerifier) checkTime(rc *registeredClaims) error {
	now := v.now()
	if rc.ExpiresAt != nil && rc.ExpiresAt.cmp(now) <= 0 {
		return errTokenExpired
	}
	if rc.NotBefore != nil && rc.NotBefore.cmp(now) >= 0 {
		return errTokenExpired
	}
	return nil
}

// userID is sub, or the configured claim converted to a string as Centrifugo's
// gjson lookup does (numbers as written, true/false, objects and arrays as raw JSON,
// null or absent as "").
func (v *jwtVerifier) userID(payload []byte, rc *registeredClaims) (string, error) {
	if v.userClaim == "" {
		return rc.Subject, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return "", fmt.Errorf("%w: %v", errTokenClaimsInvalid, err)
	}
	return claimString(top[v.userClaim]), nil
}

func claimString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case 'n':
		return ""
	case 't', 'f', '{', '[':
		return string(raw)
	}
	// A number: integers as written, others in shortest decimal form.
	s := string(raw)
	digits := strings.TrimPrefix(s, "-")
	if strings.Trim(digits, "0123456789") == "" {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// expireAtOf applies expire_at over exp: expire_at > 0 → that time, expire_at ≤ 0 →
// never; no expire_at → exp (0 when absent).
func expireAtOf(expireAt *int64, exp *numericDate) int64 {
	switch {
	case expireAt != nil:
		return max(*expireAt, 0)
	case exp != nil:
		return exp.sec
	}
	return 0
}

// connectionClaims are the claims Rotor reads from a connection JWT (auth.md §2).
type connectionClaims struct {
	registeredClaims
	Info     json.RawMessage            `json:"info,omitempty"`
	B64Info  string                     `json:"b64info,omitempty"`
	Channels []string                   `json:"channels,omitempty"`
	Subs     map[string]tokenSubOptions `json:"subs,omitempty"`
	Meta     json.RawMessage            `json:"meta,omitempty"`
	ExpireAt *int64                     `json:"expire_at,omitempty"`
	// Channel must be empty in a connection token: a channel marks a subscription
	// token used in the wrong place.
	Channel string `json:"channel,omitempty"`
}

// tokenSubOptions are the per-channel options of a connection token's `subs` claim.
type tokenSubOptions struct {
	Info     json.RawMessage `json:"info,omitempty"`
	B64Info  string          `json:"b64info,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	B64Data  string          `json:"b64data,omitempty"`
	Override *tokenOverride  `json:"override,omitempty"`
}

// serverSub is one server-side subscription a connection token asks for.
type serverSub struct {
	info, data []byte
	override   *SubscribeOverride
}

// verifiedToken is the outcome of a successful connection token check.
type verifiedToken struct {
	user string
	info []byte
	// meta is the raw JSON `meta` claim (nil when absent): server-side only.
	meta []byte
	// expireAt is the unix second the connection expires at; 0 means never.
	expireAt int64
	// subs are the server-side subscriptions from `subs` (or `channels` when subs is
	// empty).
	subs map[string]serverSub
}

// verifyConnection returns errTokenExpired for exp/nbf failures (the client refreshes
// its token on 109) and any other error for an invalid token (3500). ctx bounds the
// wait for a JWKS fetch.
func (v *tokenVerifier) verifyConnection(ctx context.Context, token string) (verifiedToken, error) {
	var claims connectionClaims
	payload, err := v.conn.verify(ctx, token, &claims)
	if err != nil {
		return verifiedToken{}, err
	}
	if claims.Channel != "" {
		return verifiedToken{}, errTokenChannelClaim
	}
	if err := v.conn.checkTime(&claims.registeredClaims); err != nil {
		return verifiedToken{}, err
	}
	var vt verifiedToken
	if vt.user, err = v.conn.userID(payload, &claims.registeredClaims); err != nil {
		return verifiedToken{}, err
	}
	if vt.info, err = rawOrBase64(claims.Info, claims.B64Info); err != nil {
		return verifiedToken{}, err
	}
	if len(claims.Meta) > 0 && string(claims.Meta) != "null" {
		vt.meta = claims.Meta
	}
	switch {
	case len(claims.Subs) > 0:
		vt.subs = make(map[string]serverSub, len(claims.Subs))
		for ch, o := range claims.Subs {
			var ss serverSub
			if ss.info, err = rawOrBase64(o.Info, o.B64Info); err != nil {
				return verifiedToken{}, err
			}
			if ss.data, err = rawOrBase64(o.Data, o.B64Data); err != nil {
				return verifiedToken{}, err
			}
			ss.override = o.Override.toOverride()
			vt.subs[ch] = ss
		}
	case len(claims.Channels) > 0:
		vt.subs = make(map[string]serverSub, len(claims.Channels))
		for _, ch := range claims.Channels {
			vt.subs[ch] = serverSub{}
		}
	}
	vt.expireAt = expireAtOf(claims.ExpireAt, claims.ExpiresAt)
	return vt, nil
}

// maxTTL caps connection expiry as Centrifugo does (365 days).
const maxTTL = 365 * 24 * time.Hour

// subscriptionClaims are the claims of a subscription JWT (auth.md §3).
type subscriptionClaims struct {
	registeredClaims
	Channel  string          `json:"channel"`
	Client   string          `json:"client,omitempty"`
	Info     json.RawMessage `json:"info,omitempty"`
	B64Info  string          `json:"b64info,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	B64Data  string          `json:"b64data,omitempty"`
	ExpireAt *int64          `json:"expire_at,omitempty"`
	Override *tokenOverride  `json:"override,omitempty"`
}

// tokenOverride is the `override` claim: each option as {"value": bool}.
type tokenOverride struct {
	Presence           *boolValue `json:"presence,omitempty"`
	JoinLeave          *boolValue `json:"join_leave,omitempty"`
	ForcePushJoinLeave *boolValue `json:"force_push_join_leave,omitempty"`
	ForcePositioning   *boolValue `json:"force_positioning,omitempty"`
	ForceRecovery      *boolValue `json:"force_recovery,omitempty"`
}

type boolValue struct {
	Value bool `json:"value"`
}

func (b *boolValue) ptr() *bool {
	if b == nil {
		return nil
	}
	v := b.Value
	return &v
}

func (o *tokenOverride) toOverride() *SubscribeOverride {
	if o == nil {
		return nil
	}
	return &SubscribeOverride{
		Presence:           o.Presence.ptr(),
		JoinLeave:          o.JoinLeave.ptr(),
		ForcePushJoinLeave: o.ForcePushJoinLeave.ptr(),
		ForcePositioning:   o.ForcePositioning.ptr(),
		ForceRecovery:      o.ForceRecovery.ptr(),
	}
}

// verifiedSubToken is the outcome of a successful subscription token check.
type verifiedSubToken struct {
	user, channel, client string
	info, data            []byte
	expireAt              int64
	override              *SubscribeOverride
}

// verifySubscription returns errTokenExpired for exp/nbf failures (109) and any other
// error for a token that cannot be verified, including one without a channel claim
// (103). Claim mismatches are the caller's to check (3500). ctx bounds the wait for a
// JWKS fetch.
func (v *tokenVerifier) verifySubscription(ctx context.Context, token string) (verifiedSubToken, error) {
	var claims subscriptionClaims
	payload, err := v.sub.verify(ctx, token, &claims)
	if err != nil {
		return verifiedSubToken{}, err
	}
	if err := v.sub.checkTime(&claims.registeredClaims); err != nil {
		return verifiedSubToken{}, err
	}
	if claims.Channel == "" {
		return verifiedSubToken{}, errTokenNoChannel
	}
	vt := verifiedSubToken{channel: claims.Channel, client: claims.Client, override: claims.Override.toOverride()}
	if vt.user, err = v.sub.userID(payload, &claims.registeredClaims); err != nil {
		return verifiedSubToken{}, err
	}
	if vt.info, err = rawOrBase64(claims.Info, claims.B64Info); err != nil {
		return verifiedSubToken{}, err
	}
	if vt.data, err = rawOrBase64(claims.Data, claims.B64Data); err != nil {
		return verifiedSubToken{}, err
	}
	vt.expireAt = expireAtOf(claims.ExpireAt, claims.ExpiresAt)
	return vt, nil
}

// rawOrBase64 picks the base64 variant of a claim over the raw JSON one.
func rawOrBase64(raw json.RawMessage, b64 string) ([]byte, error) {
	if b64 != "" {
		return base64.StdEncoding.DecodeString(b64)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	return raw, nil
}

// matches reports whether a subscription token's claims fit the subscription being
// made: same channel and user, and the same client when the legacy claim is set.
// A mismatch is a 3500 disconnect (auth.md §3).
func (vt *verifiedSubToken) matches(channel, user, client string) bool {
	return vt.channel == channel && vt.user == user && (vt.client == "" || vt.client == client)
}

// effectiveExpiry is a token's expiry as the node applies it: client.insecure
// ignores expiration.
func (n *Node) effectiveExpiry(expireAt int64) int64 {
	if n.cfg.Insecure {
		return 0
	}
	return expireAt
}
