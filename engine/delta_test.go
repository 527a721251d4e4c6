package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/codec/fossil"
)

func deltaConfig() Config {
	cfg := featureConfig()
	cfg.Namespaces = append(cfg.Namespaces, NamespaceOptions{
		Name: "live", AllowSubscribeForClient: true, AllowedDeltaTypes: []string{"fossil"},
		AllowTagsFilter: true, HistorySize: 10, HistoryTTL: time.Minute, AllowRecovery: true, AllowHistoryForClient: true,
	})
	return cfg
}

func TestDeltaPublications(t *testing.T) {
	n := newTestNode(t, deltaConfig())
	c, tr := connected(t, n, "1")
	got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"live:a","delta":"fossil"}}`)
	if got[0] != `{"id":2,"subscribe":{"delta":true}}` {
		t.Fatalf("subscribe reply %q", got)
	}
	plain, ptr := connected(t, n, "2")
	send(t, plain, ptr, `{"id":2,"subscribe":{"channel":"live:a"}}`)
	doc1 := `{"price":100,"symbol":"ROTR","note":"a fairly long and repetitive text to make a patch worthwhile"}`
	doc2 := `{"price":101,"symbol":"ROTR","note":"a fairly long and repetitive text to make a patch worthwhile"}`
	_, _ = n.Publish("live:a", []byte(doc1), PublishOptions{Delta: true})
	_, _ = n.Publish("live:a", []byte(doc2), PublishOptions{Delta: true})
	msgs := tr.messages()
	type push struct {
		Push struct {
			Pub struct {
				Data  json.RawMessage `json:"data"`
				Delta bool            `json:"delta"`
			} `json:"pub"`
		} `json:"push"`
	}
	var first, second push
	if err := json.Unmarshal([]byte(msgs[len(msgs)-2]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(msgs[len(msgs)-1]), &second); err != nil {
		t.Fatal(err)
	}
	var full, patch string
	if err := json.Unmarshal(first.Push.Pub.Data, &full); err != nil || first.Push.Pub.Delta || full != doc1 {
		t.Fatalf("first publication must be full, string-encoded: %s", msgs[len(msgs)-2])
	}
	if err := json.Unmarshal(second.Push.Pub.Data, &patch); err != nil || !second.Push.Pub.Delta {
		t.Fatalf("second publication must be a delta: %s", msgs[len(msgs)-1])
	}
	out, err := fossil.Apply([]byte(full), []byte(patch))
	if err != nil || string(out) != doc2 {
		t.Fatalf("patch applies to %q (%v), want %q", out, err, doc2)
	}
	if len(patch) >= len(doc2) {
		t.Fatalf("patch (%d bytes) not smaller than data (%d)", len(patch), len(doc2))
	}
	// The subscriber without delta gets plain publications.
	if pm := ptr.messages(); pm[len(pm)-1] != `{"push":{"channel":"live:a","pub":{"data":`+doc2+`,"offset":2}}}` {
		t.Fatalf("plain subscriber: %s", pm[len(pm)-1])
	}
	// Delta requested where the namespace does not allow it: silently downgraded.
	got = send(t, c, tr, `{"id":3,"subscribe":{"channel":"news","delta":"fossil"}}`)
	if got[0] != `{"id":3,"subscribe":{}}` {
		t.Fatalf("downgraded delta %q", got)
	}
}

func TestDeltaRecovery(t *testing.T) {
	n := newTestNode(t, deltaConfig())
	docs := []string{`{"v":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"}`, `{"v":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"}`}
	for _, d := range docs {
		_, _ = n.Publish("live:r", []byte(d), PublishOptions{Delta: true})
	}
	c, tr := connected(t, n, "1")
	got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"live:r","delta":"fossil","recoverable":true,"recover":true,"offset":0}}`)
	raw := struct {
		Subscribe struct {
			Publications []struct {
				Data  json.RawMessage `json:"data"`
				Delta bool            `json:"delta"`
			} `json:"publications"`
			Recovered bool `json:"recovered"`
			Delta     bool `json:"delta"`
		} `json:"subscribe"`
	}{}
	if err := json.Unmarshal([]byte(got[0]), &raw); err != nil {
		t.Fatal(err)
	}
	pubs := raw.Subscribe.Publications
	if !raw.Subscribe.Recovered || !raw.Subscribe.Delta || len(pubs) != 2 || pubs[0].Delta || !pubs[1].Delta {
		t.Fatalf("recovery with delta: %s", got[0])
	}
	var base, patch string
	_ = json.Unmarshal(pubs[0].Data, &base)
	_ = json.Unmarshal(pubs[1].Data, &patch)
	if out, err := fossil.Apply([]byte(base), []byte(patch)); err != nil || string(out) != docs[1] {
		t.Fatalf("recovered patch: %q %v", out, err)
	}
	// The next live publication is a delta against the last recovered one.
	doc3 := `{"v":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3"}`
	_, _ = n.Publish("live:r", []byte(doc3), PublishOptions{Delta: true})
	msgs := tr.messages()
	if !strings.Contains(msgs[len(msgs)-1], `"delta":true`) {
		t.Fatalf("live publication after recovery: %s", msgs[len(msgs)-1])
	}
}

func TestTagsFilter(t *testing.T) {
	n := newTestNode(t, deltaConfig())
	c, tr := connected(t, n, "1")
	got := send(t, c, tr, `{"id":2,"subscribe":{"channel":"live:f","tf":{"key":"type","cmp":"eq","val":"goal"}}}`)
	if got[0] != `{"id":2,"subscribe":{}}` {
		t.Fatalf("subscribe with filter %q", got)
	}
	_, _ = n.Publish("live:f", []byte(`{"n":1}`), PublishOptions{Tags: map[string]string{"type": "corner"}})
	_, _ = n.Publish("live:f", []byte(`{"n":2}`), PublishOptions{Tags: map[string]string{"type": "goal"}})
	msgs := tr.messages()
	if len(msgs) != 3 || !strings.Contains(msgs[2], `{"n":2}`) {
		t.Fatalf("filtered publications %q", msgs)
	}
	got = send(t, c, tr, `{"id":3,"subscribe":{"channel":"news","tf":{"key":"type","cmp":"eq","val":"goal"}}}`)
	if got[0] != `{"id":3,"error":{"code":107,"message":"bad request"}}` {
		t.Fatalf("filter where not allowed %q", got)
	}
	got = send(t, c, tr, `{"id":4,"subscribe":{"channel":"live:g","tf":{"op":"not"}}}`)
	if got[0] != `{"id":4,"error":{"code":107,"message":"bad request"}}` {
		t.Fatalf("invalid filter %q", got)
	}
}
