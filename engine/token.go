package engine

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// connectionClaims are the claims Rotor reads from a connection JWT (auth.md §2).
type connectionClaims struct {
	jwt.RegisteredClaims
	Info     json.RawMessage            `json:"info,omitempty"`
	B64Info  string                     `json:"b64info,omitempty"`
	Channels []string                   `json:"channels,omitempty"`
	Subs     map[string]tokenSubOptions `json:"subs,omitempty"`
	Meta     json.RawMessage            `json:"meta,omitempty"`
	ExpireAt *int64                     `json:"expire_at,omitempty"`
	// Channel must be absent from a connection token: its presence marks a
	// subscription token used in the wrong place.
	Channel *string `json:"channel,omitempty"`
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
	// expireAt is the unix second the connection expires at; 0 means never.
	expireAt int64
	// subs are the server-side subscriptions from `subs` (or `channels` when subs is
	// empty).
	subs map[string]serverSub
	// meta is kept server-side for proxies.
	meta []byte
}

var errTokenExpired = errors.New("engine: token expired")

// tokenVerifier checks HMAC-signed JWTs. It is safe for concurrent use.
type tokenVerifier struct {
	key    []byte
	parser *jwt.Parser
}

func newTokenVerifier(hmacKey string) *tokenVerifier {
	return &tokenVerifier{
		key:    []byte(hmacKey),
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"})),
	}
}

// verifyConnection returns errTokenExpired for exp/nbf failures (the client refreshes
// its token on 109) and any other error for an invalid token (3500).
func (v *tokenVerifier) verifyConnection(token string) (verifiedToken, error) {
	var claims connectionClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) {
		if len(v.key) == 0 {
			return nil, errors.New("engine: no HMAC key configured")
		}
		return v.key, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return verifiedToken{}, errTokenExpired
		}
		return verifiedToken{}, err
	}
	if claims.Channel != nil {
		return verifiedToken{}, errors.New("engine: channel claim in connection token")
	}
	vt := verifiedToken{user: claims.Subject}
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
	switch {
	case claims.ExpireAt != nil:
		vt.expireAt = *claims.ExpireAt
	case claims.ExpiresAt != nil:
		vt.expireAt = claims.ExpiresAt.Unix()
	}
	return vt, nil
}

// maxTTL caps connection expiry as Centrifugo does (365 days).
const maxTTL = 365 * 24 * time.Hour

// subscriptionClaims are the claims of a subscription JWT (auth.md §3).
type subscriptionClaims struct {
	jwt.RegisteredClaims
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
// error for a token that cannot be verified (103). Claim mismatches are the caller's
// to check (3500).
func (v *tokenVerifier) verifySubscription(token string) (verifiedSubToken, error) {
	var claims subscriptionClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) {
		if len(v.key) == 0 {
			return nil, errors.New("engine: no HMAC key configured")
		}
		return v.key, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return verifiedSubToken{}, errTokenExpired
		}
		return verifiedSubToken{}, err
	}
	vt := verifiedSubToken{user: claims.Subject, channel: claims.Channel, client: claims.Client, override: claims.Override.toOverride()}
	if vt.info, err = rawOrBase64(claims.Info, claims.B64Info); err != nil {
		return verifiedSubToken{}, err
	}
	if vt.data, err = rawOrBase64(claims.Data, claims.B64Data); err != nil {
		return verifiedSubToken{}, err
	}
	switch {
	case claims.ExpireAt != nil:
		vt.expireAt = *claims.ExpireAt
	case claims.ExpiresAt != nil:
		vt.expireAt = claims.ExpiresAt.Unix()
	}
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
