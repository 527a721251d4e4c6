package redis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/rotorhq/rotor/broker/redis/redistest"
	"github.com/rotorhq/rotor/engine"
)

// startCentrifugoInsecure runs $CENTRIFUGO_BIN on srv (startCentrifugo: client.insecure,
// so a bare WebSocket client connects anonymously and subscribes anywhere). It returns
// the API and the WebSocket URL.
func startCentrifugoInsecure(t *testing.T, srv *redistest.Server) (*centrifugo, string) {
	c := startCentrifugo(t, map[string]any{"address": []string{srv.URL()}})
	return c, c.ws
}

// wsClient is a bare JSON-protocol client of the Centrifugo node.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	id   string
}

func dialCentrifugo(t *testing.T, url string) *wsClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &wsClient{t: t, conn: conn}
	var reply struct {
		Connect struct {
			Client string `json:"client"`
		} `json:"connect"`
	}
	c.send(`{"id":1,"connect":{}}`)
	if err := json.Unmarshal([]byte(c.read()), &reply); err != nil || reply.Connect.Client == "" {
		t.Fatalf("connect reply: %v", err)
	}
	c.id = reply.Connect.Client
	return c
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message that is not a ping ({}), or fails after 5 s.
func (c *wsClient) read() string {
	c.t.Helper()
	for {
		s, err := c.next()
		if err != nil {
			c.t.Fatal(err)
		}
		if s != "{}" {
			return s
		}
		c.send("{}")
	}
}

func (c *wsClient) next() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.conn.ReadMessage()
	return strings.TrimSpace(string(b)), err
}

type infoResult struct {
	Nodes []struct {
		UID        string `json:"uid"`
		Name       string `json:"name"`
		Version    string `json:"version"`
		NumClients uint32 `json:"num_clients"`
	} `json:"nodes"`
}

// TestCentrifugoControl runs a Rotor node and a Centrifugo node on one Redis
// (CENTRIFUGO_BIN; skipped with a message when unset): each lists the other in info
// with its counters, each counts the other's channels in the channels API (answering
// the other's survey), server API subscribe and disconnect issued on either reach a
// client of the other, and a Rotor node that shuts down leaves Centrifugo's list.
func TestCentrifugoControl(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	// Rotor first: Centrifugo attaches its metrics to its first announcement only
	// (then once a minute).
	rotor := clusterNode(t, srv, "rotor-node")
	cf, wsURL := startCentrifugoInsecure(t, srv)

	// info, both ways.
	cfClient := dialCentrifugo(t, wsURL)
	var cfInfo infoResult
	waitUntil(t, "Centrifugo lists the Rotor node", func() bool {
		cf.call("info", map[string]any{}, &cfInfo)
		for _, n := range cfInfo.Nodes {
			if n.Name == "rotor-node" && n.UID != "" && n.Version == engine.DefaultVersion {
				return len(cfInfo.Nodes) == 2
			}
		}
		return false
	})
	waitUntil(t, "Rotor lists the Centrifugo node with its client", func() bool {
		infos := rotor.Info()
		return len(infos) == 2 && infos[1].UID != rotor.Info()[0].UID && infos[1].NumClients == 1
	})
	cfNode := rotor.Info()[1]
	t.Logf("Rotor's info lists Centrifugo node %q (%s), version %q", cfNode.Name, cfNode.UID, cfNode.Version)
	// Rotor keeps the metrics of Centrifugo's first announcement for info.
	if m := cfNode.Metrics; m == nil || m.Interval != 60 || len(m.Items) == 0 {
		t.Fatalf("Centrifugo node metrics: %+v", m)
	}
	t.Logf("with %d metric items", len(cfNode.Metrics.Items))

	// channels: each node answers the other's survey.
	rc, rtr := anonClient(t, rotor)
	if !rc.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"both"}}`)) {
		t.Fatal("rotor subscribe refused")
	}
	cfClient.send(`{"id":2,"subscribe":{"channel":"both"}}`)
	if r := cfClient.read(); !strings.HasPrefix(r, `{"id":2,"subscribe":`) {
		t.Fatalf("centrifugo subscribe reply: %s", r)
	}
	var cfChans struct {
		Channels map[string]struct {
			NumClients uint32 `json:"num_clients"`
		} `json:"channels"`
	}
	cf.call("channels", map[string]any{}, &cfChans)
	if cfChans.Channels["both"].NumClients != 2 {
		t.Fatalf("Centrifugo's channels: %+v", cfChans)
	}
	chans, err := rotor.Channels("bo*")
	if err != nil || len(chans) != 1 || chans["both"].NumClients != 2 {
		t.Fatalf("Rotor's channels: %v, %v", chans, err)
	}

	// Rotor's server API reaches the Centrifugo client.
	if err := rotor.Subscribe(engine.ServerSubscribeRequest{Channel: "from-rotor", Client: cfClient.id}); err != nil {
		t.Fatal(err)
	}
	if r := cfClient.read(); r != `{"push":{"channel":"from-rotor","subscribe":{}}}` {
		t.Fatalf("centrifugo client got %s", r)
	}
	if err := rotor.Unsubscribe(engine.ServerUnsubscribeRequest{Channel: "from-rotor", Client: cfClient.id}); err != nil {
		t.Fatal(err)
	}
	if r := cfClient.read(); r != `{"push":{"channel":"from-rotor","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}` {
		t.Fatalf("centrifugo client got %s", r)
	}
	if err := rotor.Disconnect(engine.ServerDisconnectRequest{Client: cfClient.id}); err != nil {
		t.Fatal(err)
	}
	var closeErr *websocket.CloseError
	for {
		s, err := cfClient.next()
		if err == nil {
			if s == "{}" {
				continue
			}
			t.Fatalf("centrifugo client got %s instead of a disconnect", s)
		}
		if !errors.As(err, &closeErr) || closeErr.Code != 3503 {
			t.Fatalf("centrifugo client closed with %v, want 3503", err)
		}
		break
	}

	// Centrifugo's server API reaches the Rotor client.
	cf.call("subscribe", map[string]any{"channel": "from-cf", "user": "", "client": rc.ID()}, nil)
	waitUntil(t, "Rotor client subscribed by Centrifugo", func() bool { return rotor.NumSubscribers("from-cf") == 1 })
	cf.call("disconnect", map[string]any{"user": "", "client": rc.ID()}, nil)
	waitUntil(t, "Rotor client disconnected by Centrifugo", func() bool {
		_, d := rtr.state()
		return d != nil && d.Code == 3503
	})

	// A Rotor node that leaves is dropped by Centrifugo at once (its Shutdown).
	if err := rotor.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitUntil(t, "Centrifugo drops the Rotor node", func() bool {
		cf.call("info", map[string]any{}, &cfInfo)
		return len(cfInfo.Nodes) == 1
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Centrifugo dropped the Rotor node after %v: Shutdown not honoured", d)
	}
}

// TestCentrifugoSeesRotorMetrics (CENTRIFUGO_BIN): a Rotor node joining a running
// Centrifugo node shows in Centrifugo's info with the metrics of its first
// announcement, flattened as Centrifugo names its own.
func TestCentrifugoSeesRotorMetrics(t *testing.T) {
	centrifugoBin(t)
	srv := redistest.Start(t)
	cf, _ := startCentrifugoInsecure(t, srv)
	clusterNode(t, srv, "rotor-node")
	var info struct {
		Nodes []struct {
			Name    string `json:"name"`
			Metrics *struct {
				Interval float64            `json:"interval"`
				Items    map[string]float64 `json:"items"`
			} `json:"metrics"`
		} `json:"nodes"`
	}
	waitUntil(t, "Centrifugo lists the Rotor node with metrics", func() bool {
		cf.call("info", map[string]any{}, &info)
		for _, n := range info.Nodes {
			if n.Name == "rotor-node" && n.Metrics != nil {
				_, ok := n.Metrics.Items["centrifugo.node.num_clients"]
				return ok && n.Metrics.Interval == 60
			}
		}
		return false
	})
}
