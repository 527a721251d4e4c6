package engine

import (
	"fmt"
	"strings"
	"testing"
)

// TestFirstPublicationCarriesEpoch checks that the publication with offset 1 carries
// its stream's epoch in the push, in client and server history, and in a recovered
// subscribe result, and that later publications do not (client-protocol.md §3.3).
func TestFirstPublicationCarriesEpoch(t *testing.T) {
	n := newTestNode(t, featureConfig())
	a, atr := connected(t, n, "1")
	send(t, a, atr, `{"id":2,"subscribe":{"channel":"room:e"}}`)
	before := len(atr.messages())
	r1, err := n.Publish("room:e", []byte(`{"n":1}`), PublishOptions{})
	if err != nil || r1.Offset != 1 || r1.Epoch == "" {
		t.Fatalf("first publish: %+v %v", r1, err)
	}
	if _, err := n.Publish("room:e", []byte(`{"n":2}`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	first := fmt.Sprintf(`{"data":{"n":1},"offset":1,"epoch":%q}`, r1.Epoch)
	second := `{"data":{"n":2},"offset":2}`
	got := atr.messages()[before:]
	want := []string{
		`{"push":{"channel":"room:e","pub":` + first + `}}`,
		`{"push":{"channel":"room:e","pub":` + second + `}}`,
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("pushes:\n got %q\nwant %q", got, want)
	}
	hist := send(t, a, atr, `{"id":3,"history":{"channel":"room:e","limit":10}}`)
	if len(hist) != 1 || !strings.HasPrefix(hist[0], `{"id":3,"history":{"publications":[`+first+`,`+second+`]`) {
		t.Fatalf("client history %q", hist)
	}
	hr, err := n.History(HistoryRequest{Channel: "room:e", Limit: -1})
	if err != nil || len(hr.Publications) != 2 || hr.Publications[0].Epoch != r1.Epoch || hr.Publications[1].Epoch != "" {
		t.Fatalf("server history %+v %v", hr, err)
	}
	b, btr := connected(t, n, "2")
	rec := send(t, b, btr, fmt.Sprintf(`{"id":2,"subscribe":{"channel":"room:e","recover":true,"epoch":%q,"offset":0}}`, r1.Epoch))
	if len(rec) == 0 || !strings.Contains(rec[0], `"publications":[`+first+`,`+second+`]`) || !strings.Contains(rec[0], `"recovered":true`) {
		t.Fatalf("recovered subscribe %q", rec)
	}
}
