package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
)

// CheckConnectionToken verifies a connection JWT as a connecting client's would be
// (the `rotor checktoken` command): it returns the user and the token's claims JSON.
func CheckConnectionToken(ctx context.Context, cfg *Config, token string) (user string, claims []byte, err error) {
	v, err := buildTokenVerifier(cfg)
	if err != nil {
		return "", nil, err
	}
	vt, err := v.verifyConnection(ctx, token)
	if err != nil {
		return "", nil, err
	}
	claims, err = tokenClaims(token)
	return vt.user, claims, err
}

// CheckSubscriptionToken verifies a subscription JWT (the `rotor checksubtoken`
// command): it returns its user, channel and claims JSON.
func CheckSubscriptionToken(ctx context.Context, cfg *Config, token string) (user, channel string, claims []byte, err error) {
	v, err := buildTokenVerifier(cfg)
	if err != nil {
		return "", "", nil, err
	}
	vt, err := v.verifySubscription(ctx, token)
	if err != nil {
		return "", "", nil, err
	}
	claims, err = tokenClaims(token)
	return vt.user, vt.channel, claims, err
}

// tokenClaims decodes the payload part of a compact JWS.
func tokenClaims(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("malformed token")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}
