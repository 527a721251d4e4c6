package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// FuzzAPIPublishDecode feeds arbitrary bodies to the publish request decoder. It
// checks that decoding never panics; that a decoded request is independent of the
// pooled scratch it went through (a dirty scratch gives the same result as a fresh
// one) and of the body buffer once decoded (strings are copies); that data, when
// present, is one valid JSON value; and that whenever encoding/json accepts the body
// sonic accepts it too and agrees on the channel.
func FuzzAPIPublishDecode(f *testing.F) {
	seeds := []string{
		`{"channel":"news","data":{"x":1}}`,
		`{"channel":"a","b64data":"aGVsbG8=","skip_history":true,"tags":{"k":"v"},"idempotency_key":"i","delta":true}`,
		`{"channel":"a","b64data":"aGVs\/bG8=","data":null}`,
		`{"channels":["a","b"],"data":[1,2,3]}`,
		`null`, `{}`, `[]`, ``, `{"channel":1}`, `{"version":18446744073709551615,"version_epoch":"e"}`,
		`{"channel":"\u00e9\ud83d\ude80","data":"\u2028"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dirty := &publishScratch{}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)

		fresh := &publishScratch{}
		errFresh := fresh.decode(body)

		// Leave state behind in the reused scratch, then decode the same body.
		_ = dirty.decode([]byte(`{"channel":"old","data":{"old":1},"b64data":"b2xk","skip_history":true,"tags":{"old":"1"},"idempotency_key":"old","delta":true,"version":9,"version_epoch":"old"}`))
		errDirty := dirty.decode(body)
		if (errFresh == nil) != (errDirty == nil) {
			t.Fatalf("fresh err %v, dirty err %v", errFresh, errDirty)
		}

		var std struct {
			Channel string `json:"channel"`
		}
		stdErr := json.Unmarshal(orig, &std)
		if stdErr == nil && errFresh != nil && json.Valid(orig) {
			// encoding/json accepted it; so must we (same request type).
			var full publishRequest
			if json.Unmarshal(orig, &full) == nil {
				t.Fatalf("encoding/json decodes %q but sonic fails: %v", orig, errFresh)
			}
		}
		if errFresh != nil {
			return
		}
		a, b := &fresh.req, &dirty.req
		if a.Channel != b.Channel || !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.B64Data, b.B64Data) ||
			a.SkipHistory != b.SkipHistory || a.IdempotencyKey != b.IdempotencyKey || a.Delta != b.Delta ||
			a.Version != b.Version || a.VersionEpoch != b.VersionEpoch || !maps.Equal(a.Tags, b.Tags) {
			t.Fatalf("dirty scratch decoded differently:\nfresh %+v\ndirty %+v", a, b)
		}
		if a.Data != nil && !json.Valid(a.Data) {
			t.Fatalf("data %q is not valid JSON", a.Data)
		}
		if stdErr == nil && std.Channel != a.Channel {
			t.Fatalf("channel %q, encoding/json says %q", a.Channel, std.Channel)
		}
		// payload must not panic whatever b64data holds.
		_, _, _, _ = a.payload(nil)

		// Strings must survive the body buffer being reused.
		channel, tags, idem := a.Channel, maps.Clone(a.Tags), a.IdempotencyKey
		for i := range body {
			body[i] = 0
		}
		if a.Channel != channel || a.IdempotencyKey != idem || !maps.Equal(a.Tags, tags) {
			t.Fatal("decoded strings alias the request body")
		}
	})
}
