package netio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/memory"
	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// nodeServer is a real engine Node behind a real netio Server, wired as
// cmd/rotor wires them, for tests of whole deliveries over sockets.
type nodeServer struct {
	node *engine.Node
	srv  *Server
}

// startNodeServer starts both. wrap, when set, may wrap each transport before the
// engine sees it (to observe Close calls); nil hands netio's transport over as is.
func startNodeServer(t testing.TB, cfg Config, ecfg engine.Config, wrap func(engine.Transport, *UpgradeRequest) engine.Transport) *nodeServer {
	t.Helper()
	if ecfg.Broker == nil {
		m := memory.New()
		ecfg.Broker, ecfg.PresenceManager, ecfg.Controller = m, m, m
	}
	node, err := engine.New(ecfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	node.Run()
	cfg.Address = "127.0.0.1:0"
	cfg.Admit = node.Admit
	cfg.Accept = func(tr engine.Transport, r *UpgradeRequest) Session {
		if wrap != nil {
			tr = wrap(tr, r)
		}
		return node.NewClient(tr, nil)
	}
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return &nodeServer{node: node, srv: srv}
}

// wsClient is a raw WebSocket client speaking the JSON client protocol.
type wsClient struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte // payload of the last frame read
	// rsv1 is the RSV1 bit of the last frame read (a compressed message).
	rsv1 bool
	// resp is the upgrade response.
	resp *http.Response
}

// dialSubscribe upgrades a connection made by d (nil: a plain dialer), connects
// and subscribes to channel, and returns once the subscribe reply arrived.
func dialSubscribe(t testing.TB, d *net.Dialer, addr, channel string) *wsClient {
	t.Helper()
	return dialSubscribeHead(t, d, addr, channel, "")
}

// dialSubscribeHead is dialSubscribe with extra request header lines ("K: v\r\n").
// It expects the replies uncompressed (short ones, under compression_min_size).
func dialSubscribeHead(t testing.TB, d *net.Dialer, addr, channel, extra string) *wsClient {
	t.Helper()
	if d == nil {
		d = &net.Dialer{Timeout: 5 * time.Second}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, upgradeHead(extra)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	cmds := `{"id":1,"connect":{}}` + "\n" + `{"id":2,"subscribe":{"channel":"` + channel + `"}}`
	if _, err := c.Write(cframe(true, ws.OpText, []byte(cmds))); err != nil {
		t.Fatal(err)
	}
	wc := &wsClient{c: c, br: br, resp: resp}
	for {
		op, p, err := wc.next()
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if op != ws.OpText {
			t.Fatalf("subscribe: frame op %d %q", op, p)
		}
		if bytes.Contains(p, []byte(`"error"`)) {
			t.Fatalf("subscribe: %s", p)
		}
		if bytes.Contains(p, []byte(`"id":2`)) {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return wc
}

var errFrameTooBig = errors.New("test client: frame too big")

// next reads one server frame (unfragmented, as the server sends them). The
// payload is valid until the next call.
func (wc *wsClient) next() (ws.Opcode, []byte, error) {
	var h [10]byte
	if _, err := io.ReadFull(wc.br, h[:2]); err != nil {
		return 0, nil, err
	}
	op := ws.Opcode(h[0] & 0x0F)
	wc.rsv1 = h[0]&0x40 != 0
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(wc.br, h[2:4]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		if _, err := io.ReadFull(wc.br, h[2:10]); err != nil {
			return 0, nil, err
		}
		n64 := binary.BigEndian.Uint64(h[2:10])
		if n64 > 64<<20 {
			return 0, nil, errFrameTooBig
		}
		n = int(n64)
	}
	if cap(wc.buf) < n {
		wc.buf = make([]byte, n)
	}
	wc.buf = wc.buf[:n]
	if _, err := io.ReadFull(wc.br, wc.buf); err != nil {
		return 0, nil, err
	}
	return op, wc.buf, nil
}
