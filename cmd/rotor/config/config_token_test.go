package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/engine"
)

func ecdsaPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestLoadConfigTokenKeys(t *testing.T) {
	t.Parallel()
	pemKey := ecdsaPEM(t)
	file := map[string]any{"client": map[string]any{
		"insecure_skip_token_signature_verify": true,
		"token": map[string]any{
			"hmac_secret_key":                          "current",
			"hmac_previous_secret_key":                 "previous",
			"hmac_previous_secret_key_valid_until":     1700000000,
			"ecdsa_public_key":                         pemKey,
			"jwks_public_endpoint":                     "https://auth.example.com/{{realm}}/certs",
			"audience_regex":                           "^rotor$",
			"issuer_regex":                             "^https://auth.example.com/(?P<realm>a|b)$",
			"user_id_claim":                            "user_id",
			"insecure_skip_jwks_endpoint_safety_check": false,
		},
		"subscription_token": map[string]any{
			"enabled":         true,
			"hmac_secret_key": "sub-secret",
			"audience":        "subs",
			"issuer":          "me",
			"user_id_claim":   "uid",
		},
	}}
	data, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(writeFile(t, "tokens.json", string(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := got.Engine
	wantToken := engine.TokenConfig{
		HMACPreviousSecretKey:           "previous",
		HMACPreviousSecretKeyValidUntil: 1700000000,
		ECDSAPublicKey:                  pemKey,
		JWKSPublicEndpoint:              "https://auth.example.com/{{realm}}/certs",
		AudienceRegex:                   "^rotor$",
		IssuerRegex:                     "^https://auth.example.com/(?P<realm>a|b)$",
		UserIDClaim:                     "user_id",
	}
	wantSub := engine.TokenConfig{HMACSecretKey: "sub-secret", Audience: "subs", Issuer: "me", UserIDClaim: "uid"}
	if e.TokenHMACSecretKey != "current" || !reflect.DeepEqual(e.Token, wantToken) || !e.SubscriptionTokenEnabled ||
		!reflect.DeepEqual(e.SubscriptionToken, wantSub) || !e.InsecureSkipTokenSignatureVerify {
		t.Fatalf("engine token config:\n%+v\n%+v\n%+v", e.TokenHMACSecretKey, e.Token, e.SubscriptionToken)
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %v", got.Ignored)
	}

	// The same keys from the environment.
	env := []string{
		"CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY=env-current",
		"CENTRIFUGO_CLIENT_TOKEN_HMAC_PREVIOUS_SECRET_KEY=env-previous",
		"CENTRIFUGO_CLIENT_TOKEN_HMAC_PREVIOUS_SECRET_KEY_VALID_UNTIL=1800000000",
		"CENTRIFUGO_CLIENT_TOKEN_RSA_PUBLIC_KEY=",
		"CENTRIFUGO_CLIENT_TOKEN_ECDSA_PUBLIC_KEY=" + pemKey,
		"ROTOR_CLIENT_TOKEN_AUDIENCE=rotor",
		"CENTRIFUGO_CLIENT_TOKEN_ISSUER=https://auth",
		"CENTRIFUGO_CLIENT_TOKEN_USER_ID_CLAIM=uid",
		"CENTRIFUGO_CLIENT_TOKEN_JWKS_PUBLIC_ENDPOINT=https://auth/{{x}}",
		"CENTRIFUGO_CLIENT_TOKEN_AUDIENCE_REGEX=",
		"CENTRIFUGO_CLIENT_TOKEN_INSECURE_SKIP_JWKS_ENDPOINT_SAFETY_CHECK=true",
		"CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_ENABLED=true",
		"CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_HMAC_SECRET_KEY=env-sub",
		"CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_ISSUER_REGEX=^me$",
		"CENTRIFUGO_CLIENT_SUBSCRIPTION_TOKEN_AUDIENCE=subs",
		"CENTRIFUGO_CLIENT_INSECURE_SKIP_TOKEN_SIGNATURE_VERIFY=true",
	}
	got, err = Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	e = got.Engine
	wantToken = engine.TokenConfig{
		HMACPreviousSecretKey:               "env-previous",
		HMACPreviousSecretKeyValidUntil:     1800000000,
		ECDSAPublicKey:                      pemKey,
		JWKSPublicEndpoint:                  "https://auth/{{x}}",
		Audience:                            "rotor",
		Issuer:                              "https://auth",
		UserIDClaim:                         "uid",
		InsecureSkipJWKSEndpointSafetyCheck: true,
	}
	wantSub = engine.TokenConfig{HMACSecretKey: "env-sub", IssuerRegex: "^me$", Audience: "subs"}
	if e.TokenHMACSecretKey != "env-current" || !reflect.DeepEqual(e.Token, wantToken) || !e.SubscriptionTokenEnabled ||
		!reflect.DeepEqual(e.SubscriptionToken, wantSub) || !e.InsecureSkipTokenSignatureVerify {
		t.Fatalf("engine token config from env:\n%+v\n%+v\n%+v", e.TokenHMACSecretKey, e.Token, e.SubscriptionToken)
	}
	if len(got.Ignored) != 0 {
		t.Fatalf("ignored %v", got.Ignored)
	}
}

func TestLoadConfigTokenErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		file string
		env  []string
		want string // the error must start with this
	}{
		{"valid_until type", `{"client":{"token":{"hmac_previous_secret_key_valid_until":"soon"}}}`, nil, `client.token.hmac_previous_secret_key_valid_until: invalid integer "soon"`},
		{"valid_until env", "", []string{"CENTRIFUGO_CLIENT_TOKEN_HMAC_PREVIOUS_SECRET_KEY_VALID_UNTIL=x"}, `client.token.hmac_previous_secret_key_valid_until: invalid integer "x" (from CENTRIFUGO_CLIENT_TOKEN_HMAC_PREVIOUS_SECRET_KEY_VALID_UNTIL)`},
		{"enabled type", `{"client":{"subscription_token":{"enabled":"perhaps"}}}`, nil, `client.subscription_token.enabled: invalid boolean "perhaps"`},
		{"rsa key", `{"client":{"token":{"rsa_public_key":"not a key"}}}`, nil, `client.token.rsa_public_key: no PEM block`},
		{"ecdsa key", "", []string{"CENTRIFUGO_CLIENT_TOKEN_ECDSA_PUBLIC_KEY=nope"}, `client.token.ecdsa_public_key: no PEM block`},
		{"audience twice", `{"client":{"token":{"audience":"a","audience_regex":"a"}}}`, nil, `client.token.audience and client.token.audience_regex: configure only one of them`},
		{"issuer regex", `{"client":{"token":{"issuer_regex":"("}}}`, nil, `client.token.issuer_regex: `},
		{"user claim", `{"client":{"token":{"user_id_claim":"a.b"}}}`, nil, `client.token.user_id_claim: "a.b" must match`},
		{"jwks scheme", `{"client":{"token":{"jwks_public_endpoint":"grpc://x"}}}`, nil, `client.token.jwks_public_endpoint: `},
		{"jwks safety", `{"client":{"token":{"jwks_public_endpoint":"https://{{t}}.example.com","issuer_regex":"^(?P<t>.*)$"}}}`, nil, `client.token.jwks_public_endpoint: issuer_regex group "t"`},
		{"subscription key when enabled", `{"client":{"subscription_token":{"enabled":true,"rsa_public_key":"x"}}}`, nil, `client.subscription_token.rsa_public_key: `},
		{"subscription user claim", `{"client":{"subscription_token":{"user_id_claim":"1"}}}`, nil, `client.subscription_token.user_id_claim: "1" must match`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tc.file != "" {
				path = writeFile(t, "config.json", tc.file)
			}
			_, err := Load(path, tc.env)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
	// A bad key under a disabled subscription_token section is not used, so it is
	// accepted, as Centrifugo does.
	if _, err := Load(writeFile(t, "c.json", `{"client":{"subscription_token":{"rsa_public_key":"x"}}}`), nil); err != nil {
		t.Fatal(err)
	}
}
