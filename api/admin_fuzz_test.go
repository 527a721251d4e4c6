package api

import (
	"testing"
	"time"
)

// FuzzAdminToken: the admin token check never panics, and accepts only what
// newAdminToken issued with the same secret (or a token re-encoded to the same
// bytes, which base64 decoding makes impossible to differ).
func FuzzAdminToken(f *testing.F) {
	now := time.Unix(1796354192, 0)
	f.Add("secret", newAdminToken("secret", now))
	f.Add("secret", "MTc5NjM1NDE5MnxEUXdBQ21GMWRHaHZjbWw2WldRPXxXVepgidSxRuoHSjpolEwlZlT6XK72c4jl89o7I_Iu2g==")
	f.Add("", "")
	f.Add("s", "fHx8")
	f.Fuzz(func(t *testing.T, secret, token string) {
		ok := checkAdminToken(secret, token, now)
		if ok && secret == "" {
			t.Fatal("accepted a token without a secret")
		}
		if ok && checkAdminToken(secret+"x", token, now) {
			t.Fatal("accepted under two secrets")
		}
	})
}
