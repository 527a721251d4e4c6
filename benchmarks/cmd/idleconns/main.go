// Command idleconns opens N idle client connections of one transport to a server
// and reports how much the server process's resident memory grew per connection
// (VmRSS from /proc/<pid>/status, Linux). Each connection connects (anonymous:
// run the server with client.insecure or anonymous connects allowed), waits for its
// connect reply or push, then stays idle.
//
//	idleconns -addr 127.0.0.1:8000 -pid $(pgrep -n rotor) -transport sse -n 5000
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "server address")
	pid := flag.Int("pid", 0, "server process id (required)")
	transport := flag.String("transport", "websocket", "websocket, http_stream, sse, uni_websocket, uni_http_stream or uni_sse")
	n := flag.Int("n", 5000, "connections")
	settle := flag.Duration("settle", 2*time.Second, "wait before reading RSS after the last connect")
	flag.Parse()
	if *pid == 0 {
		fmt.Fprintln(os.Stderr, "idleconns: -pid is required")
		os.Exit(2)
	}
	before := rss(*pid)
	conns := make([]any, 0, *n)
	start := time.Now()
	for i := 0; i < *n; i++ {
		c, err := open(*addr, *transport)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idleconns: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	took := time.Since(start)
	time.Sleep(*settle)
	after := rss(*pid)
	fmt.Printf("transport=%s n=%d rss_before_kib=%d rss_after_kib=%d per_conn_bytes=%d connect_time=%s\n",
		*transport, *n, before, after, (after-before)*1024/int64(*n), took.Round(time.Millisecond))
	_ = conns
}

func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

const connectCmd = `{"id":1,"connect":{}}`

func open(addr, transport string) (any, error) {
	switch transport {
	case "websocket", "uni_websocket":
		u := "ws://" + addr + "/connection/" + transport
		c, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			return nil, err
		}
		msg := connectCmd
		if transport == "uni_websocket" {
			msg = "{}"
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			return nil, err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			return nil, err
		}
		return c, nil
	}
	var req string
	switch transport {
	case "http_stream", "uni_http_stream":
		body := connectCmd
		if transport == "uni_http_stream" {
			body = "{}"
		}
		req = fmt.Sprintf("POST /connection/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", transport, len(body), body)
	case "sse":
		req = "GET /connection/sse?cf_connect=" + url.QueryEscape(connectCmd) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	case "uni_sse":
		req = "GET /connection/uni_sse HTTP/1.1\r\nHost: x\r\n\r\n"
	default:
		return nil, fmt.Errorf("unknown transport %q", transport)
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if bytes.Contains(line, []byte(`"connect"`)) {
			return c, nil
		}
	}
}
