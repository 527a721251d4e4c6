package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenTestKeys are generated once: RSA generation is slow under -race.
type tokenTestKeys struct {
	rsa, rsa2          *rsa.PrivateKey
	p256, p384, p521   *ecdsa.PrivateKey
	p256b              *ecdsa.PrivateKey
	ed, ed2            ed25519.PrivateKey
	rsaPEM, rsaPKCS1   string
	rsaCertPEM         string
	p256PEM, p384PEM   string
	p521PEM, p256bPEM  string
	rsa2PEM, ed25519PK string
}

var testKeys = sync.OnceValue(func() *tokenTestKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &tokenTestKeys{}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	for _, c := range []struct {
		dst   **ecdsa.PrivateKey
		curve elliptic.Curve
	}{{&k.p256, elliptic.P256()}, {&k.p384, elliptic.P384()}, {&k.p521, elliptic.P521()}, {&k.p256b, elliptic.P256()}} {
		*c.dst, err = ecdsa.GenerateKey(c.curve, rand.Reader)
		must(err)
	}
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.ed2, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.rsaPEM = pkixPEM(&k.rsa.PublicKey)
	k.rsa2PEM = pkixPEM(&k.rsa2.PublicKey)
	k.rsaPKCS1 = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rotor"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.rsa.PublicKey, k.rsa)
	must(err)
	k.rsaCertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	k.p256PEM = pkixPEM(&k.p256.PublicKey)
	k.p384PEM = pkixPEM(&k.p384.PublicKey)
	k.p521PEM = pkixPEM(&k.p521.PublicKey)
	k.p256bPEM = pkixPEM(&k.p256b.PublicKey)
	k.ed25519PK = pkixPEM(k.ed.Public())
	return k
})

func pkixPEM(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// signJWT signs claims with method and key, adding a kid header when not empty.
func signJWT(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawJWT assembles a token from a header and payload JSON and a signature.
func rawJWT(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

func mustVerifier(t testing.TB, cfg Config) *tokenVerifier {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return newTokenVerifier(&cfg)
}

// setNow fixes the clock of both verifiers of v.
func setNow(v *tokenVerifier, now time.Time) {
	f := func() time.Time { return now }
	v.conn.now = f
	v.sub.now = f
}

// outcome names a verification result: "ok", "expired" or "invalid".
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err == errTokenExpired:
		return "expired"
	}
	return "invalid"
}

// verifyConn and verifySub return the outcome of verifying tok.
func verifyConn(v *tokenVerifier, tok string) string {
	_, err := v.verifyConnection(context.Background(), tok)
	return outcome(err)
}

func verifySub(v *tokenVerifier, tok string) string {
	_, err := v.verifySubscription(context.Background(), tok)
	return outcome(err)
}

func TestTokenAlgorithms(t *testing.T) {
	t.Parallel()
	k := testKeys()
	const secret = "hmac-secret"
	hmac := Config{Token: TokenConfig{HMACSecretKey: secret}}
	rsaCfg := Config{Token: TokenConfig{RSAPublicKey: k.rsaPEM}}
	ecCfg := func(pemKey string) Config { return Config{Token: TokenConfig{ECDSAPublicKey: pemKey}} }
	all := Config{Token: TokenConfig{HMACSecretKey: secret, RSAPublicKey: k.rsaPEM, ECDSAPublicKey: k.p256PEM}}
	exp := time.Now().Add(time.Hour).Unix()
	claims := jwt.MapClaims{"sub": "42", "exp": exp}
	subClaims := jwt.MapClaims{"sub": "42", "exp": exp, "channel": "$room"}

	valid := signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", claims)
	parts := strings.Split(valid, ".")
	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`))

	cases := []struct {
		name   string
		cfg    Config
		method jwt.SigningMethod
		key    any
		want   string
	}{
		{"HS256", hmac, jwt.SigningMethodHS256, []byte(secret), "ok"},
		{"HS384", hmac, jwt.SigningMethodHS384, []byte(secret), "ok"},
		{"HS512", hmac, jwt.SigningMethodHS512, []byte(secret), "ok"},
		{"HS256 legacy TokenHMACSecretKey", Config{TokenHMACSecretKey: secret}, jwt.SigningMethodHS256, []byte(secret), "ok"},
		{"Token.HMACSecretKey wins over legacy", Config{TokenHMACSecretKey: "legacy", Token: TokenConfig{HMACSecretKey: secret}}, jwt.SigningMethodHS256, []byte("legacy"), "invalid"},
		{"HS256 wrong secret", hmac, jwt.SigningMethodHS256, []byte("other"), "invalid"},
		{"RS256", rsaCfg, jwt.SigningMethodRS256, k.rsa, "ok"},
		{"RS384", rsaCfg, jwt.SigningMethodRS384, k.rsa, "ok"},
		{"RS512", rsaCfg, jwt.SigningMethodRS512, k.rsa, "ok"},
		{"RS256 PKCS1 PEM", Config{Token: TokenConfig{RSAPublicKey: k.rsaPKCS1}}, jwt.SigningMethodRS256, k.rsa, "ok"},
		{"RS256 certificate PEM", Config{Token: TokenConfig{RSAPublicKey: k.rsaCertPEM}}, jwt.SigningMethodRS256, k.rsa, "ok"},
		{"RS256 other key", rsaCfg, jwt.SigningMethodRS256, k.rsa2, "invalid"},
		{"PS256 with RSA key", rsaCfg, jwt.SigningMethodPS256, k.rsa, "invalid"},
		{"ES256", ecCfg(k.p256PEM), jwt.SigningMethodES256, k.p256, "ok"},
		{"ES384", ecCfg(k.p384PEM), jwt.SigningMethodES384, k.p384, "ok"},
		{"ES512", ecCfg(k.p521PEM), jwt.SigningMethodES512, k.p521, "ok"},
		{"ES256 other key", ecCfg(k.p256PEM), jwt.SigningMethodES256, k.p256b, "invalid"},
		{"ES384 with P-256 key", ecCfg(k.p256PEM), jwt.SigningMethodES384, k.p384, "invalid"},
		{"ES256 with P-384 key", ecCfg(k.p384PEM), jwt.SigningMethodES256, k.p256, "invalid"},
		{"all keys: HS256", all, jwt.SigningMethodHS256, []byte(secret), "ok"},
		{"all keys: RS256", all, jwt.SigningMethodRS256, k.rsa, "ok"},
		{"all keys: ES256", all, jwt.SigningMethodES256, k.p256, "ok"},
		// An alg without a configured key is invalid, whatever signed it.
		{"no keys at all", Config{}, jwt.SigningMethodHS256, []byte("x"), "invalid"},
		{"HS256 without HMAC key", rsaCfg, jwt.SigningMethodHS256, []byte(secret), "invalid"},
		{"HS256 keyed with the RSA PEM (alg confusion)", rsaCfg, jwt.SigningMethodHS256, []byte(k.rsaPEM), "invalid"},
		{"RS256 without RSA key", hmac, jwt.SigningMethodRS256, k.rsa, "invalid"},
		{"ES256 without ECDSA key", rsaCfg, jwt.SigningMethodES256, k.p256, "invalid"},
		{"EdDSA without JWKS", all, jwt.SigningMethodEdDSA, k.ed, "invalid"},
		{"none", all, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := mustVerifier(t, tc.cfg)
			if got := verifyConn(v, signJWT(t, tc.method, tc.key, "", claims)); got != tc.want {
				t.Errorf("connection token: %s, want %s", got, tc.want)
			}
			if got := verifySub(v, signJWT(t, tc.method, tc.key, "", subClaims)); got != tc.want {
				t.Errorf("subscription token: %s, want %s", got, tc.want)
			}
		})
	}

	v := mustVerifier(t, all)
	for name, tok := range map[string]string{
		"empty":                "",
		"one part":             "abc",
		"two parts":            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
		"four parts":           valid + ".x",
		"padded header":        parts[0] + "=." + parts[1] + "." + parts[2],
		"header not JSON":      base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2],
		"alg not a string":     rawJWT(`{"alg":1}`, `{"sub":"1"}`, nil),
		"payload swapped":      parts[0] + "." + otherPayload + "." + parts[2],
		"signature cut":        parts[0] + "." + parts[1] + "." + parts[2][:10],
		"signature not base64": parts[0] + "." + parts[1] + ".***",
		"claims not an object": rawJWT(`{"alg":"HS256"}`, `[1]`, nil),
	} {
		if got := verifyConn(v, tok); got != "invalid" {
			t.Errorf("%s: %s, want invalid", name, got)
		}
	}
	if got := verifyConn(v, valid); got != "ok" {
		t.Errorf("untouched token: %s", got)
	}
}

func TestTokenAudienceIssuer(t *testing.T) {
	t.Parallel()
	const secret = "s"
	cases := []struct {
		name   string
		tc     TokenConfig
		claims jwt.MapClaims
		want   string
	}{
		{"no checks, no claims", TokenConfig{}, jwt.MapClaims{}, "ok"},
		{"no checks, any claims", TokenConfig{}, jwt.MapClaims{"aud": "x", "iss": "y"}, "ok"},
		{"audience string", TokenConfig{Audience: "rotor"}, jwt.MapClaims{"aud": "rotor"}, "ok"},
		{"audience in array", TokenConfig{Audience: "rotor"}, jwt.MapClaims{"aud": []string{"api", "rotor"}}, "ok"},
		{"audience other", TokenConfig{Audience: "rotor"}, jwt.MapClaims{"aud": "rotor2"}, "invalid"},
		{"audience not in array", TokenConfig{Audience: "rotor"}, jwt.MapClaims{"aud": []string{"api", "web"}}, "invalid"},
		{"audience missing", TokenConfig{Audience: "rotor"}, jwt.MapClaims{}, "invalid"},
		{"audience empty array", TokenConfig{Audience: "rotor"}, jwt.MapClaims{"aud": []string{}}, "invalid"},
		{"aud null", TokenConfig{}, jwt.MapClaims{"aud": nil}, "invalid"},
		{"aud number", TokenConfig{}, jwt.MapClaims{"aud": 1}, "invalid"},
		{"aud array of numbers", TokenConfig{}, jwt.MapClaims{"aud": []int{1}}, "invalid"},
		{"audience regex", TokenConfig{AudienceRegex: `^rotor-(web|app)$`}, jwt.MapClaims{"aud": "rotor-web"}, "ok"},
		{"audience regex any element", TokenConfig{AudienceRegex: `^rotor-(web|app)$`}, jwt.MapClaims{"aud": []string{"x", "rotor-app"}}, "ok"},
		{"audience regex no match", TokenConfig{AudienceRegex: `^rotor-(web|app)$`}, jwt.MapClaims{"aud": []string{"x", "rotor-tv"}}, "invalid"},
		{"audience regex missing aud", TokenConfig{AudienceRegex: `^rotor`}, jwt.MapClaims{}, "invalid"},
		{"audience regex is unanchored", TokenConfig{AudienceRegex: `rotor`}, jwt.MapClaims{"aud": "my-rotor-app"}, "ok"},
		{"issuer", TokenConfig{Issuer: "https://auth"}, jwt.MapClaims{"iss": "https://auth"}, "ok"},
		{"issuer other", TokenConfig{Issuer: "https://auth"}, jwt.MapClaims{"iss": "https://auth2"}, "invalid"},
		{"issuer missing", TokenConfig{Issuer: "https://auth"}, jwt.MapClaims{}, "invalid"},
		{"iss not a string", TokenConfig{}, jwt.MapClaims{"iss": 5}, "invalid"},
		{"issuer regex", TokenConfig{IssuerRegex: `^https://(a|b)\.example\.com$`}, jwt.MapClaims{"iss": "https://b.example.com"}, "ok"},
		{"issuer regex no match", TokenConfig{IssuerRegex: `^https://(a|b)\.example\.com$`}, jwt.MapClaims{"iss": "https://c.example.com"}, "invalid"},
		{"issuer regex missing iss", TokenConfig{IssuerRegex: `^https://`}, jwt.MapClaims{}, "invalid"},
		{"both", TokenConfig{Audience: "rotor", IssuerRegex: `^auth$`}, jwt.MapClaims{"aud": "rotor", "iss": "auth"}, "ok"},
		{"both, issuer wrong", TokenConfig{Audience: "rotor", IssuerRegex: `^auth$`}, jwt.MapClaims{"aud": "rotor", "iss": "auth2"}, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Token: tc.tc}
			cfg.Token.HMACSecretKey = secret
			v := mustVerifier(t, cfg)
			if got := verifyConn(v, signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", tc.claims)); got != tc.want {
				t.Errorf("connection token: %s, want %s", got, tc.want)
			}
			sub := jwt.MapClaims{"channel": "ch"}
			for k, val := range tc.claims {
				sub[k] = val
			}
			if got := verifySub(v, signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", sub)); got != tc.want {
				t.Errorf("subscription token: %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTokenTimeClaims(t *testing.T) {
	t.Parallel()
	const secret = "s"
	now := time.Unix(1_700_000_000, 0)
	nowHalf := time.Unix(1_700_000_000, 500_000_000)
	cases := []struct {
		name    string
		now     time.Time
		payload string
		want    string
	}{
		{"no time claims", now, `{"sub":"1"}`, "ok"},
		{"exp in a second", now, `{"exp":1700000001}`, "ok"},
		{"exp now", now, `{"exp":1700000000}`, "expired"},
		{"exp a second ago", now, `{"exp":1699999999}`, "expired"},
		{"exp half a second ahead", now, `{"exp":1700000000.5}`, "ok"},
		{"exp fractional, now equal", nowHalf, `{"exp":1700000000.5}`, "expired"},
		{"exp fractional, just ahead", nowHalf, `{"exp":1700000000.6}`, "ok"},
		{"exp fractional, just behind", nowHalf, `{"exp":1700000000.4}`, "expired"},
		{"exp as numeric string", now, `{"exp":"1700000001"}`, "ok"},
		{"exp huge", now, `{"exp":1e300}`, "ok"},
		{"exp zero", now, `{"exp":0}`, "expired"},
		{"exp negative fractional", now, `{"exp":-1.5}`, "expired"},
		{"exp not a number", now, `{"exp":"soon"}`, "invalid"},
		{"exp boolean", now, `{"exp":true}`, "invalid"},
		{"exp null", now, `{"exp":null}`, "ok"},
		{"nbf a second ago", now, `{"nbf":1699999999}`, "ok"},
		{"nbf now", now, `{"nbf":1700000000}`, "expired"},
		{"nbf ahead", now, `{"nbf":1700000001}`, "expired"},
		{"nbf fractional behind", nowHalf, `{"nbf":1700000000.4}`, "ok"},
		{"nbf fractional equal", nowHalf, `{"nbf":1700000000.5}`, "expired"},
		{"nbf not a number", now, `{"nbf":"x"}`, "invalid"},
		{"iat in the future is not checked", now, `{"iat":1800000000,"exp":1700000100}`, "ok"},
		{"iat malformed", now, `{"iat":"x"}`, "invalid"},
		{"valid window", now, `{"nbf":1699999000,"exp":1700001000}`, "ok"},
	}
	sign := func(payload string) string {
		tok := rawJWT(`{"alg":"HS256","typ":"JWT"}`, payload, nil)
		input := tok[:strings.LastIndexByte(tok, '.')]
		sig, err := jwt.SigningMethodHS256.Sign(input, []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	for _, tc := range cases {
		v := mustVerifier(t, Config{Token: TokenConfig{HMACSecretKey: secret}})
		setNow(v, tc.now)
		if got := verifyConn(v, sign(tc.payload)); got != tc.want {
			t.Errorf("%s: connection token %s, want %s", tc.name, got, tc.want)
		}
		subPayload := `{"channel":"ch",` + tc.payload[1:]
		if got := verifySub(v, sign(subPayload)); got != tc.want {
			t.Errorf("%s: subscription token %s, want %s", tc.name, got, tc.want)
		}
	}

	// Expiry is checked last: an expired token that fails an earlier check is
	// invalid, not expired.
	v := mustVerifier(t, Config{Token: TokenConfig{HMACSecretKey: secret, Audience: "rotor"}})
	past := time.Now().Add(-time.Hour).Unix()
	for name, tok := range map[string]string{
		"bad signature":      signJWT(t, jwt.SigningMethodHS256, []byte("other"), "", jwt.MapClaims{"aud": "rotor", "exp": past}),
		"wrong audience":     signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"aud": "x", "exp": past}),
		"connection channel": signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"aud": "rotor", "exp": past, "channel": "ch"}),
	} {
		if got := verifyConn(v, tok); got != "invalid" {
			t.Errorf("%s: %s, want invalid", name, got)
		}
	}
	// A subscription token's channel is checked after its expiry (Centrifugo's order).
	noChannel := signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"aud": "rotor", "exp": past})
	if got := verifySub(v, noChannel); got != "expired" {
		t.Errorf("expired subscription token without channel: %s, want expired", got)
	}
}

func TestTokenPreviousHMACKey(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	cur, prev := []byte("current"), []byte("previous")
	cases := []struct {
		name       string
		current    string
		validUntil int64
		key        []byte
		want       string
	}{
		{"current key", "current", 0, cur, "ok"},
		{"previous key, no limit", "current", 0, prev, "ok"},
		{"previous key, limit ahead", "current", now.Unix() + 10, prev, "ok"},
		{"previous key, limit is now", "current", now.Unix(), prev, "ok"},
		{"previous key, limit passed", "current", now.Unix() - 1, prev, "invalid"},
		{"current key, previous limit passed", "current", now.Unix() - 1, cur, "ok"},
		{"previous key without a current key", "", 0, prev, "ok"},
		{"previous key expired, no current key", "", now.Unix() - 1, prev, "invalid"},
		{"neither key", "current", 0, []byte("third"), "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := mustVerifier(t, Config{Token: TokenConfig{
				HMACSecretKey:                   tc.current,
				HMACPreviousSecretKey:           string(prev),
				HMACPreviousSecretKeyValidUntil: tc.validUntil,
			}})
			setNow(v, now)
			for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512} {
				tok := signJWT(t, m, tc.key, "", jwt.MapClaims{"sub": "1", "exp": now.Unix() + 60})
				if got := verifyConn(v, tok); got != tc.want {
					t.Errorf("%s: %s, want %s", m.Alg(), got, tc.want)
				}
			}
		})
	}
}

func TestTokenUserIDClaim(t *testing.T) {
	t.Parallel()
	const secret = "s"
	cases := []struct {
		name    string
		claim   string
		payload string
		want    string
	}{
		{"sub by default", "", `{"sub":"alice","user_id":"bob"}`, "alice"},
		{"no sub", "", `{"x":1}`, ""},
		{"custom string", "user_id", `{"sub":"alice","user_id":"bob"}`, "bob"},
		{"custom integer", "user_id", `{"user_id":42}`, "42"},
		{"custom negative integer", "user_id", `{"user_id":-7}`, "-7"},
		{"custom float", "user_id", `{"user_id":4.50}`, "4.5"},
		{"custom exponent", "user_id", `{"user_id":1e3}`, "1000"},
		{"custom boolean", "user_id", `{"user_id":true}`, "true"},
		{"custom null", "user_id", `{"user_id":null}`, ""},
		{"custom object", "user_id", `{"user_id":{"a":1}}`, `{"a":1}`},
		{"custom missing ignores sub", "user_id", `{"sub":"alice"}`, ""},
		{"custom is case-sensitive", "user_id", `{"USER_ID":"x"}`, ""},
		{"custom escaped string", "uid", `{"uid":"a\u0062"}`, "ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := mustVerifier(t, Config{Token: TokenConfig{HMACSecretKey: secret, UserIDClaim: tc.claim}})
			sign := func(payload string) string {
				input := rawJWT(`{"alg":"HS256"}`, payload, nil)
				input = input[:strings.LastIndexByte(input, '.')]
				sig, _ := jwt.SigningMethodHS256.Sign(input, []byte(secret))
				return input + "." + base64.RawURLEncoding.EncodeToString(sig)
			}
			vt, err := v.verifyConnection(context.Background(), sign(tc.payload))
			if err != nil || vt.user != tc.want {
				t.Errorf("connection: user %q, err %v; want %q", vt.user, err, tc.want)
			}
			st, err := v.verifySubscription(context.Background(), sign(`{"channel":"ch",`+tc.payload[1:]))
			if err != nil || st.user != tc.want {
				t.Errorf("subscription: user %q, err %v; want %q", st.user, err, tc.want)
			}
		})
	}
}

func TestTokenInsecureSkipSignature(t *testing.T) {
	t.Parallel()
	k := testKeys()
	v := mustVerifier(t, Config{
		InsecureSkipTokenSignatureVerify: true,
		Token:                            TokenConfig{HMACSecretKey: "s", Audience: "rotor"},
	})
	exp := time.Now().Add(time.Hour).Unix()
	for name, tok := range map[string]string{
		"wrong secret":       signJWT(t, jwt.SigningMethodHS256, []byte("other"), "", jwt.MapClaims{"sub": "1", "aud": "rotor", "exp": exp}),
		"unconfigured alg":   signJWT(t, jwt.SigningMethodRS256, k.rsa, "", jwt.MapClaims{"sub": "1", "aud": "rotor", "exp": exp}),
		"none":               signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", jwt.MapClaims{"sub": "1", "aud": "rotor"}),
		"garbage signature":  rawJWT(`{"alg":"HS256"}`, `{"sub":"1","aud":"rotor"}`, []byte("garbage")),
		"EdDSA without JWKS": signJWT(t, jwt.SigningMethodEdDSA, k.ed, "", jwt.MapClaims{"sub": "1", "aud": "rotor"}),
	} {
		vt, err := v.verifyConnection(context.Background(), tok)
		if err != nil || vt.user != "1" {
			t.Errorf("%s: user %q, err %v", name, vt.user, err)
		}
	}
	// Claims are still checked.
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodHS256, []byte("other"), "", jwt.MapClaims{"aud": "web"})); got != "invalid" {
		t.Errorf("wrong audience: %s", got)
	}
	if got := verifyConn(v, signJWT(t, jwt.SigningMethodHS256, []byte("other"), "", jwt.MapClaims{"aud": "rotor", "exp": 1})); got != "expired" {
		t.Errorf("expired: %s", got)
	}
	if got := verifyConn(v, "not-a-token"); got != "invalid" {
		t.Errorf("malformed: %s", got)
	}
}

func TestSubscriptionTokenSettings(t *testing.T) {
	t.Parallel()
	k := testKeys()
	exp := time.Now().Add(time.Hour).Unix()
	connKey, subKey := []byte("conn-secret"), []byte("sub-secret")
	base := Config{Token: TokenConfig{HMACSecretKey: string(connKey), Audience: "conn"}}

	// Disabled: subscription tokens use client.token.*, whatever subscription_token holds.
	disabled := base
	disabled.SubscriptionToken = TokenConfig{HMACSecretKey: string(subKey)}
	v := mustVerifier(t, disabled)
	if got := verifySub(v, signJWT(t, jwt.SigningMethodHS256, connKey, "", jwt.MapClaims{"channel": "c", "aud": "conn"})); got != "ok" {
		t.Errorf("disabled, connection key: %s", got)
	}
	if got := verifySub(v, signJWT(t, jwt.SigningMethodHS256, subKey, "", jwt.MapClaims{"channel": "c", "aud": "conn"})); got != "invalid" {
		t.Errorf("disabled, subscription key: %s", got)
	}

	enabled := base
	enabled.SubscriptionTokenEnabled = true
	enabled.SubscriptionToken = TokenConfig{
		HMACSecretKey: string(subKey),
		RSAPublicKey:  k.rsaPEM,
		Issuer:        "subs",
		UserIDClaim:   "uid",
	}
	v = mustVerifier(t, enabled)
	cases := []struct {
		name string
		tok  string
		sub  bool
		want string
	}{
		{"connection token, connection key", signJWT(t, jwt.SigningMethodHS256, connKey, "", jwt.MapClaims{"aud": "conn", "exp": exp}), false, "ok"},
		{"connection token, subscription key", signJWT(t, jwt.SigningMethodHS256, subKey, "", jwt.MapClaims{"aud": "conn", "exp": exp}), false, "invalid"},
		{"connection token, RSA (subscription only)", signJWT(t, jwt.SigningMethodRS256, k.rsa, "", jwt.MapClaims{"aud": "conn"}), false, "invalid"},
		{"subscription token, subscription key", signJWT(t, jwt.SigningMethodHS256, subKey, "", jwt.MapClaims{"channel": "c", "iss": "subs"}), true, "ok"},
		{"subscription token, RSA", signJWT(t, jwt.SigningMethodRS256, k.rsa, "", jwt.MapClaims{"channel": "c", "iss": "subs"}), true, "ok"},
		{"subscription token, connection key", signJWT(t, jwt.SigningMethodHS256, connKey, "", jwt.MapClaims{"channel": "c", "iss": "subs", "aud": "conn"}), true, "invalid"},
		{"subscription token, wrong issuer", signJWT(t, jwt.SigningMethodHS256, subKey, "", jwt.MapClaims{"channel": "c", "iss": "conn"}), true, "invalid"},
		// The connection audience does not apply to subscription tokens.
		{"subscription token, no aud", signJWT(t, jwt.SigningMethodHS256, subKey, "", jwt.MapClaims{"channel": "c", "iss": "subs", "exp": exp}), true, "ok"},
	}
	for _, tc := range cases {
		var got string
		if tc.sub {
			got = verifySub(v, tc.tok)
		} else {
			got = verifyConn(v, tc.tok)
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	st, err := v.verifySubscription(context.Background(), signJWT(t, jwt.SigningMethodHS256, subKey, "", jwt.MapClaims{"channel": "c", "iss": "subs", "sub": "a", "uid": "b"}))
	if err != nil || st.user != "b" {
		t.Errorf("subscription user_id_claim: user %q, err %v", st.user, err)
	}
	vt, err := v.verifyConnection(context.Background(), signJWT(t, jwt.SigningMethodHS256, connKey, "", jwt.MapClaims{"aud": "conn", "sub": "a", "uid": "b"}))
	if err != nil || vt.user != "a" {
		t.Errorf("connection user: user %q, err %v", vt.user, err)
	}
}

func TestTokenClaimsContent(t *testing.T) {
	t.Parallel()
	const secret = "s"
	v := mustVerifier(t, Config{Token: TokenConfig{HMACSecretKey: secret}})
	sign := func(claims jwt.MapClaims) string {
		return signJWT(t, jwt.SigningMethodHS256, []byte(secret), "", claims)
	}
	exp := time.Now().Add(time.Hour).Unix()

	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   int64
	}{
		{"exp", jwt.MapClaims{"exp": exp}, exp},
		{"no exp", jwt.MapClaims{}, 0},
		{"expire_at wins", jwt.MapClaims{"exp": exp, "expire_at": exp + 100}, exp + 100},
		{"expire_at 0: never", jwt.MapClaims{"exp": exp, "expire_at": 0}, 0},
		{"expire_at negative: never", jwt.MapClaims{"exp": exp, "expire_at": -5}, 0},
	} {
		vt, err := v.verifyConnection(context.Background(), sign(tc.claims))
		if err != nil || vt.expireAt != tc.want {
			t.Errorf("connection %s: expireAt %d, err %v; want %d", tc.name, vt.expireAt, err, tc.want)
		}
		tc.claims["channel"] = "ch"
		st, err := v.verifySubscription(context.Background(), sign(tc.claims))
		if err != nil || st.expireAt != tc.want {
			t.Errorf("subscription %s: expireAt %d, err %v; want %d", tc.name, st.expireAt, err, tc.want)
		}
	}

	vt, err := v.verifyConnection(context.Background(), sign(jwt.MapClaims{"sub": "u", "channel": "", "meta": map[string]any{"k": 1}, "info": "i"}))
	if err != nil || string(vt.meta) != `{"k":1}` || string(vt.info) != `"i"` {
		t.Errorf("connection with empty channel claim, meta and info: %+v, %v", vt, err)
	}
	if got := verifyConn(v, sign(jwt.MapClaims{"sub": "u", "channel": "ch"})); got != "invalid" {
		t.Errorf("connection token with channel: %s", got)
	}
	if got := verifyConn(v, sign(jwt.MapClaims{"sub": "u", "b64info": "!!"})); got != "invalid" {
		t.Errorf("bad b64info: %s", got)
	}
	if got := verifyConn(v, sign(jwt.MapClaims{"sub": 5})); got != "invalid" {
		t.Errorf("numeric sub: %s", got)
	}
	if got := verifySub(v, sign(jwt.MapClaims{"sub": "u"})); got != "invalid" {
		t.Errorf("subscription token without channel: %s", got)
	}
	if got := verifySub(v, sign(jwt.MapClaims{"sub": "u", "channel": ""})); got != "invalid" {
		t.Errorf("subscription token with empty channel: %s", got)
	}
	st, err := v.verifySubscription(context.Background(), sign(jwt.MapClaims{"sub": "u", "channel": "ch", "client": "c1", "b64data": "AQI=", "override": map[string]any{"presence": map[string]any{"value": true}}}))
	if err != nil || st.channel != "ch" || st.client != "c1" || string(st.data) != "\x01\x02" || st.override == nil || st.override.Presence == nil || !*st.override.Presence {
		t.Errorf("subscription claims: %+v, %v", st, err)
	}
}

func TestTokenConfigValidate(t *testing.T) {
	t.Parallel()
	k := testKeys()
	safeIss := `^https://(?P<tenant>acme|globex)\.example\.com$`
	cases := []struct {
		name string
		cfg  Config
		want string // "" → valid; else a substring of the error
	}{
		{"zero", Config{}, ""},
		{"everything static", Config{Token: TokenConfig{HMACSecretKey: "a", HMACPreviousSecretKey: "b", HMACPreviousSecretKeyValidUntil: 1, RSAPublicKey: k.rsaPEM, ECDSAPublicKey: k.p384PEM, Audience: "x", IssuerRegex: "^y$", UserIDClaim: "user_id"}}, ""},
		{"RSA PKCS1 and certificate", Config{Token: TokenConfig{RSAPublicKey: k.rsaPKCS1}, SubscriptionTokenEnabled: true, SubscriptionToken: TokenConfig{RSAPublicKey: k.rsaCertPEM}}, ""},
		{"audience twice", Config{Token: TokenConfig{Audience: "a", AudienceRegex: "a"}}, "client.token.audience and client.token.audience_regex: configure only one"},
		{"issuer twice", Config{Token: TokenConfig{Issuer: "a", IssuerRegex: "a"}}, "client.token.issuer and client.token.issuer_regex: configure only one"},
		{"audience regex", Config{Token: TokenConfig{AudienceRegex: "("}}, "client.token.audience_regex: "},
		{"issuer regex", Config{Token: TokenConfig{IssuerRegex: "[a"}}, "client.token.issuer_regex: "},
		{"RSA not PEM", Config{Token: TokenConfig{RSAPublicKey: "nope"}}, "client.token.rsa_public_key: no PEM block"},
		{"RSA holds ECDSA", Config{Token: TokenConfig{RSAPublicKey: k.p256PEM}}, "client.token.rsa_public_key: not an RSA public key"},
		{"ECDSA holds RSA", Config{Token: TokenConfig{ECDSAPublicKey: k.rsaPEM}}, "client.token.ecdsa_public_key: not an ECDSA public key"},
		{"ECDSA holds Ed25519", Config{Token: TokenConfig{ECDSAPublicKey: k.ed25519PK}}, "client.token.ecdsa_public_key: not an ECDSA public key"},
		{"ECDSA garbage block", Config{Token: TokenConfig{ECDSAPublicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}}, "client.token.ecdsa_public_key: "},
		{"user claim", Config{Token: TokenConfig{UserIDClaim: "user.id"}}, `client.token.user_id_claim: "user.id" must match`},
		{"user claim digits", Config{Token: TokenConfig{UserIDClaim: "uid1"}}, `client.token.user_id_claim`},
		{"subscription user claim while disabled", Config{SubscriptionToken: TokenConfig{UserIDClaim: "a-b"}}, `client.subscription_token.user_id_claim`},
		{"subscription PEM while disabled", Config{SubscriptionToken: TokenConfig{RSAPublicKey: "nope"}}, ""},
		{"subscription PEM while enabled", Config{SubscriptionTokenEnabled: true, SubscriptionToken: TokenConfig{RSAPublicKey: "nope"}}, "client.subscription_token.rsa_public_key: "},
		{"subscription audience twice", Config{SubscriptionTokenEnabled: true, SubscriptionToken: TokenConfig{Audience: "a", AudienceRegex: "b"}}, "client.subscription_token.audience and"},
		{"JWKS", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://auth.example.com/.well-known/jwks.json"}}, ""},
		{"JWKS scheme", Config{Token: TokenConfig{JWKSPublicEndpoint: "ftp://auth.example.com/jwks"}}, "client.token.jwks_public_endpoint: "},
		{"JWKS no host", Config{Token: TokenConfig{JWKSPublicEndpoint: "https:///jwks"}}, "client.token.jwks_public_endpoint: "},
		{"JWKS not a URL", Config{Token: TokenConfig{JWKSPublicEndpoint: "http://a b/%zz"}}, "client.token.jwks_public_endpoint: "},
		{"JWKS unclosed placeholder", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://{{tenant.example.com/jwks"}}, "client.token.jwks_public_endpoint: unclosed"},
		{"JWKS template, safe issuer group", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://{{tenant}}.example.com/jwks", IssuerRegex: safeIss}}, ""},
		{"JWKS template, factored alternatives", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://auth/{{app}}/jwks", AudienceRegex: `^(?P<app>test1|test2)$`}}, ""},
		{"JWKS template, open group", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://{{tenant}}.example.com/jwks", IssuerRegex: `^https://(?P<tenant>.+)\.example\.com$`}}, `issuer_regex group "tenant" fills the JWKS endpoint`},
		{"JWKS template, repeated group", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://auth/{{app}}", AudienceRegex: `^(?P<app>(a|b)+)$`}}, `audience_regex group "app"`},
		{"JWKS template, class anywhere", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://{{tenant}}.example.com/jwks", IssuerRegex: `^https://(?P<tenant>acme|globex)\.[a-z]+$`}}, "issuer_regex uses a character class"},
		{"JWKS template, shorthand class", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://auth/{{app}}", AudienceRegex: `^(?P<app>a|b)\d$`}}, `audience_regex uses the character class \d`},
		{"JWKS template, unused open group", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://auth/{{app}}", AudienceRegex: `^(?P<app>a|b)-(?P<x>.*)$`}}, ""},
		{"JWKS template, skip safety check", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://{{tenant}}.example.com/jwks", IssuerRegex: `^https://(?P<tenant>[a-z]+)\.example\.com$`, InsecureSkipJWKSEndpointSafetyCheck: true}}, ""},
		{"JWKS without template ignores regexes", Config{Token: TokenConfig{JWKSPublicEndpoint: "https://auth/jwks", IssuerRegex: `^[a-z]+$`}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// New refuses what Validate refuses.
	if _, err := New(withBroker(Config{Token: TokenConfig{RSAPublicKey: "nope"}}), nil); err == nil {
		t.Fatal("New accepted an invalid RSA key")
	}
}

// TestTokenEngineMapping runs RSA tokens through the engine: invalid → 3500 on
// connect and 103 on subscribe, expired → 109.
func TestTokenEngineMapping(t *testing.T) {
	k := testKeys()
	cfg := testConfig()
	cfg.TokenHMACSecretKey = ""
	cfg.Token = TokenConfig{RSAPublicKey: k.rsaPEM, Audience: "rotor"}
	n := newTestNode(t, cfg)
	exp := time.Now().Add(time.Hour).Unix()
	conn := func(claims jwt.MapClaims, key any) (*Client, *fakeTransport) {
		c, tr := newTestClient(n)
		c.HandleFrame(fmt.Appendf(nil, `{"id":1,"connect":{"token":%q}}`, signJWT(t, jwt.SigningMethodRS256, key, "", claims)))
		return c, tr
	}
	if _, tr := conn(jwt.MapClaims{"sub": "1", "aud": "other", "exp": exp}, k.rsa); tr.disconnect() == nil || tr.disconnect().Code != 3500 {
		t.Errorf("wrong audience: disconnect %v", tr.disconnect())
	}
	if _, tr := conn(jwt.MapClaims{"sub": "1", "aud": "rotor", "exp": exp}, k.rsa2); tr.disconnect() == nil || tr.disconnect().Code != 3500 {
		t.Errorf("other key: disconnect %v", tr.disconnect())
	}
	if _, tr := conn(jwt.MapClaims{"sub": "1", "aud": "rotor", "exp": 1}, k.rsa); tr.disconnect() != nil || len(tr.messages()) != 1 || !strings.Contains(tr.messages()[0], `"code":109`) {
		t.Errorf("expired: %v %q", tr.disconnect(), tr.messages())
	}
	c, tr := conn(jwt.MapClaims{"sub": "1", "aud": "rotor", "exp": exp}, k.rsa)
	if tr.disconnect() != nil || len(tr.messages()) != 1 || !strings.Contains(tr.messages()[0], `"connect":{`) {
		t.Fatalf("valid: %v %q", tr.disconnect(), tr.messages())
	}
	sub := func(claims jwt.MapClaims, key any) string {
		c.HandleFrame(fmt.Appendf(nil, `{"id":2,"subscribe":{"channel":"$priv","token":%q}}`, signJWT(t, jwt.SigningMethodRS256, key, "", claims)))
		msgs := tr.messages()
		return msgs[len(msgs)-1]
	}
	if got := sub(jwt.MapClaims{"sub": "1", "aud": "rotor", "channel": "$priv"}, k.rsa2); !strings.Contains(got, `"code":103`) {
		t.Errorf("subscription token with another key: %s", got)
	}
	if got := sub(jwt.MapClaims{"sub": "1", "aud": "rotor"}, k.rsa); !strings.Contains(got, `"code":103`) {
		t.Errorf("subscription token without channel: %s", got)
	}
	if got := sub(jwt.MapClaims{"sub": "1", "aud": "rotor", "channel": "$priv", "exp": 1}, k.rsa); !strings.Contains(got, `"code":109`) {
		t.Errorf("expired subscription token: %s", got)
	}
	if got := sub(jwt.MapClaims{"sub": "1", "aud": "rotor", "channel": "$priv"}, k.rsa); !strings.Contains(got, `"subscribe":{`) {
		t.Errorf("valid subscription token: %s", got)
	}
}
