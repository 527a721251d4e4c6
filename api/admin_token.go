package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"strconv"
	"time"
)

// The admin token (config.md §10) in the format Centrifugo's admin endpoints issue and
// accept, so a token one node issued is good on every node of a mixed Rotor and
// Centrifugo cluster behind one load balancer: gorilla/securecookie's value encoding
// with name "token" and value "authorized", HMAC-SHA256 signed with admin.secret and
// not encrypted:
//
//	base64url( timestamp "|" base64url(gob(value)) "|" HMAC(name "|" timestamp "|" base64url(gob(value))) )
//
// where base64url is the padded URL alphabet and the timestamp is decimal unix
// seconds. A token is accepted for 30 days after its timestamp (securecookie's
// default max age), and never when longer than 4096 bytes.
const (
	adminTokenName   = "token"
	adminTokenValue  = "authorized"
	adminTokenMaxAge = 30 * 24 * 3600
	adminTokenMaxLen = 4096
)

// gobString is value gob-encoded, as securecookie's default serializer does.
func gobString(value string) []byte {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(value); err != nil {
		panic(err) // a string always encodes
	}
	return buf.Bytes()
}

func adminMAC(secret, signed []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(signed)
	return m.Sum(nil)
}

// newAdminToken issues a token valid from now.
func newAdminToken(secret string, now time.Time) string {
	value := base64.URLEncoding.EncodeToString(gobString(adminTokenValue))
	signed := adminTokenName + "|" + strconv.FormatInt(now.UTC().Unix(), 10) + "|" + value
	mac := adminMAC([]byte(secret), []byte(signed))
	raw := append([]byte(signed[len(adminTokenName)+1:]+"|"), mac...)
	return base64.URLEncoding.EncodeToString(raw)
}

// checkAdminToken reports whether token is a valid, unexpired admin token signed
// with secret.
func checkAdminToken(secret, token string, now time.Time) bool {
	if secret == "" || len(token) > adminTokenMaxLen {
		return false
	}
	raw, err := base64.URLEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	ts, rest, ok := bytes.Cut(raw, []byte("|"))
	if !ok {
		return false
	}
	value, mac, ok := bytes.Cut(rest, []byte("|"))
	if !ok {
		return false
	}
	signed := make([]byte, 0, len(adminTokenName)+1+len(raw))
	signed = append(signed, adminTokenName+"|"...)
	signed = append(signed, raw[:len(ts)+1+len(value)]...)
	if !hmac.Equal(mac, adminMAC([]byte(secret), signed)) {
		return false
	}
	issued, err := strconv.ParseInt(string(ts), 10, 64)
	if err != nil || issued < now.UTC().Unix()-adminTokenMaxAge {
		return false
	}
	enc, err := base64.URLEncoding.DecodeString(string(value))
	if err != nil {
		return false
	}
	var v string
	if err := gob.NewDecoder(bytes.NewReader(enc)).Decode(&v); err != nil {
		return false
	}
	return v == adminTokenValue
}
