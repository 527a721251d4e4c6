package redis

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotorhq/rotor/broker/redis/redistest"
)

func parseReplies(data []byte) ([]scriptReply, error) {
	r := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	var out []scriptReply
	for {
		var rep scriptReply
		if err := readScriptReply(r, &rep); err != nil {
			return out, err
		}
		out = append(out, rep)
	}
}

func TestReadScriptReply(t *testing.T) {
	long := strings.Repeat("x", 5000) // longer than the reader's buffer
	cases := []struct {
		in   string
		want scriptReply
	}{
		{"*4\r\n:7\r\n$4\r\nAbCd\r\n$1\r\n0\r\n$1\r\n1\r\n", scriptReply{n: 4, items: [4]string{"7", "AbCd", "0", "1"}}},
		{"*3\r\n$2\r\n42\r\n$3\r\nepo\r\n$1\r\n1\r\n", scriptReply{n: 3, items: [4]string{"42", "epo", "1"}}},
		{"-NOSCRIPT No matching script\r\n", scriptReply{err: "NOSCRIPT No matching script"}},
		{"+OK\r\n", scriptReply{n: 1, items: [4]string{"OK"}}},
		{":-3\r\n", scriptReply{n: 1, items: [4]string{"-3"}}},
		{"$-1\r\n", scriptReply{n: 1}},
		{"*-1\r\n", scriptReply{}},
		{"*0\r\n", scriptReply{}},
		// Nested arrays, nil and error items, and items past the fourth are read past.
		{"*6\r\n*2\r\n:1\r\n*1\r\n+a\r\n$-1\r\n-ERR x\r\n$" + strconv.Itoa(len(long)) + "\r\n" + long + "\r\n:5\r\n$1\r\nz\r\n", scriptReply{n: 6, items: [4]string{"", "", "", long}}},
	}
	for _, c := range cases {
		// Twice in a row: the reader ends each reply exactly where it ends.
		got, err := parseReplies([]byte(c.in + c.in))
		if !errors.Is(err, io.EOF) || len(got) != 2 || got[0] != c.want || got[1] != c.want {
			t.Errorf("%q: got %+v, %v; want %+v twice", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"?\r\n", "*x\r\n", "*1\r\n&1\r\n", "$3\r\nabcd\r\n", "$99999999\r\n", ":1\n", "\r\n",
		"*99999999\r\n", ":12345678901234567890\r\n", "$-\r\n",
		strings.Repeat("*1\r\n", maxReplyDepth+2) + ":1\r\n",
		"+" + strings.Repeat("y", 5000) + "\r\n",
	}
	for _, in := range bad {
		if got, err := parseReplies([]byte(in)); !errors.Is(err, errProtocol) {
			t.Errorf("%q: got %+v, %v; want a protocol error", in, got, err)
		}
	}
	// Cut short: an I/O error, not a reply.
	if got, err := parseReplies([]byte("*2\r\n:1\r\n$3\r\nab")); len(got) != 0 || err == nil || errors.Is(err, errProtocol) {
		t.Errorf("truncated: %+v, %v", got, err)
	}
}

func FuzzReadScriptReply(f *testing.F) {
	for _, s := range []string{
		"*4\r\n:7\r\n$4\r\nAbCd\r\n$1\r\n0\r\n$1\r\n1\r\n", "-NOSCRIPT x\r\n", "*2\r\n*1\r\n:1\r\n$-1\r\n",
		"$3\r\nabc\r\n+OK\r\n", "*-1\r\n", "_\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		reps, _ := parseReplies(data)
		for _, r := range reps {
			if r.n < 0 || r.n > maxReplyItems {
				t.Fatalf("n %d", r.n)
			}
			for _, it := range r.items {
				if len(it) > maxReplyBulk || len(it) > len(data) {
					t.Fatalf("item of %d bytes from %d", len(it), len(data))
				}
			}
		}
		// Whatever came before, a well-formed reply after a well-formed prefix
		// reads back unchanged.
		if len(reps) == 0 {
			return
		}
		var enc []byte
		enc = appendArrayHeader(enc, 4)
		enc = append(enc, ":"+strconv.Itoa(len(data))+"\r\n"...)
		enc = appendBulk(enc, string(data))
		enc = appendBulk(enc, "0")
		enc = appendBulk(enc, "1")
		got, err := parseReplies(enc)
		want := scriptReply{n: 4, items: [4]string{strconv.Itoa(len(data)), string(data), "0", "1"}}
		if len(data)+2 > maxReplyBulk {
			return
		}
		if len(got) != 1 || got[0] != want || errors.Is(err, errProtocol) {
			t.Fatalf("round trip: %+v %v", got, err)
		}
	})
}

// pipeServed is how many calls shard 0's script pipe answered.
func pipeServed(t *testing.T, b *Broker) uint64 {
	t.Helper()
	p := b.shards[0].pipe
	if p == nil {
		t.Fatal("standalone shard without a script pipe")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served
}

// Publishing with history goes through the script pipe; after SCRIPT FLUSH the
// NOSCRIPT reply makes it load the script again, and publishing goes on in order.
func TestScriptPipePublish(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	for i := 1; i <= 4; i++ {
		if i == 3 {
			srv.MustDo("SCRIPT", "FLUSH")
		}
		r, err := b.Publish(ctx, "sp", testPub("x"), historyOpts())
		if err != nil || r.Position.Offset != uint64(i) || r.Position.Epoch == "" {
			t.Fatalf("publish %d: %+v %v", i, r, err)
		}
	}
	if n := pipeServed(t, b); n < 2 {
		t.Fatalf("script pipe answered %d of 4 publications", n)
	}
	// Idempotent publish: the second answer is the remembered one, suppressed.
	o := historyOpts()
	o.IdempotencyKey = "k1"
	r1, err := b.Publish(ctx, "sp", testPub("y"), o)
	if err != nil || r1.Suppressed {
		t.Fatalf("first idempotent %+v %v", r1, err)
	}
	r2, err := b.Publish(ctx, "sp", testPub("y"), o)
	if err != nil || !r2.Suppressed || r2.Position != r1.Position {
		t.Fatalf("second idempotent %+v %v (first %+v)", r2, err, r1)
	}
	// Lists too.
	bl := newTestBroker(t, srv, Options{HistoryUseLists: true})
	for i := 1; i <= 3; i++ {
		r, err := bl.Publish(ctx, "spl", testPub("x"), historyOpts())
		if err != nil || r.Position.Offset != uint64(i) {
			t.Fatalf("list publish %d: %+v %v", i, r, err)
		}
	}
	if n := pipeServed(t, bl); n < 2 {
		t.Fatalf("script pipe answered %d of 3 list publications", n)
	}
}

// The pipe connects over a unix socket, with the password, user and db of the
// options, and with TLS.
func TestScriptPipeAuthDBAndTLS(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret", "--user", "alice", "on", ">pw", "~*", "&*", "+@all")
	tlsSrv := redistest.StartTLS(t)
	dir, err := os.MkdirTemp("", "rs") // short: a socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "r.sock")
	unixSrv := redistest.Start(t, "--unixsocket", sock, "--unixsocketperm", "700")
	for i, o := range []Options{
		{Address: []string{"unix://" + sock}},
		{Address: []string{"redis://:s3cret@" + srv.Addr() + "/3"}},
		{Address: []string{srv.Addr()}, User: "alice", Password: "pw", DB: 5},
		{Address: []string{"rediss://" + tlsSrv.Addr()}, TLS: TLSOptions{Enabled: true, ServerCAPEM: string(tlsSrv.CAPEM)}},
	} {
		b := newTestBroker(t, nil, o)
		ch := "auth" + strconv.Itoa(i)
		for j := 1; j <= 3; j++ {
			if r, err := b.Publish(ctx, ch, testPub("x"), historyOpts()); err != nil || r.Position.Offset != uint64(j) {
				t.Fatalf("options %d publish %d: %+v %v", i, j, r, err)
			}
		}
		if n := pipeServed(t, b); n < 2 {
			t.Fatalf("options %d: script pipe answered %d of 3", i, n)
		}
	}
	if got := unixSrv.MustDo("XLEN", "centrifugo.stream.auth0"); got != "2" {
		t.Fatalf("unix socket stream length %s", got)
	}
	for db, key := range map[string]string{"3": "centrifugo.stream.auth1", "5": "centrifugo.stream.auth2"} {
		out, err := redistest.DoSeq(srv.Addr(), []string{"AUTH", "s3cret"}, []string{"SELECT", db}, []string{"XLEN", key})
		if err != nil || out != "2" { // history size 2
			t.Fatalf("db %s: XLEN %s = %q %v", db, key, out, err)
		}
	}
	if got := tlsSrv.MustDo("XLEN", "centrifugo.stream.auth3"); got != "2" {
		t.Fatalf("TLS stream length %s", got)
	}
}

// Many publishers at once: every publication gets its own offset, in one
// sequence per channel, and their commands share writes.
func TestScriptPipeConcurrent(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{})
	if _, err := b.Publish(ctx, "warm", testPub("x"), historyOpts()); err != nil { // loads the script
		t.Fatal(err)
	}
	const workers, each, chans = 16, 150, 3
	var mu sync.Mutex
	offsets := map[string]map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ch := "conc" + strconv.Itoa((w+i)%chans)
				r, err := b.Publish(ctx, ch, testPub("x"), historyOpts())
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if offsets[ch] == nil {
					offsets[ch] = map[uint64]bool{}
				}
				if offsets[ch][r.Position.Offset] {
					mu.Unlock()
					errs <- errors.New(ch + ": offset " + strconv.FormatUint(r.Position.Offset, 10) + " twice")
					return
				}
				offsets[ch][r.Position.Offset] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for ch, offs := range offsets {
		for i := 1; i <= len(offs); i++ {
			if !offs[uint64(i)] {
				t.Fatalf("%s: offset %d missing of %d", ch, i, len(offs))
			}
		}
		total += len(offs)
	}
	if total != workers*each {
		t.Fatalf("%d publications, want %d", total, workers*each)
	}
	if n := pipeServed(t, b); n < workers*each {
		t.Fatalf("script pipe answered %d of %d", n, workers*each)
	}
}

// Redis killed: publishing fails fast (no hang); restarted: it works again on a
// new connection. After Close, calls fail.
func TestScriptPipeRestartAndClose(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{IOTimeout: time.Second})
	for i := 0; i < 2; i++ {
		if _, err := b.Publish(ctx, "rs", testPub("x"), historyOpts()); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	start := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := b.Publish(ctx, "rs", testPub("x"), historyOpts()); err == nil {
			t.Fatal("publish succeeded with Redis down")
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failing publishes took %s", d)
	}
	srv.Restart()
	before := pipeServed(t, b)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Publish(ctx, "rs", testPub("x"), historyOpts())
		if err == nil && pipeServed(t, b) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish through the pipe after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A caller's context bounds its wait on a hung Redis.
	srv.Pause()
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := b.shards[0].pipe.evalSHA(cctx, addStreamSHA, []string{"a", "b", "c"}, nil)
	cancel()
	srv.Resume()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("evalSHA past its context deadline: %v", err)
	}
	b.shards[0].pipe.Close()
	if _, err := b.shards[0].pipe.evalSHA(ctx, addStreamSHA, []string{"a", "b", "c"}, nil); !errors.Is(err, errPipeClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// Publishers keep publishing while Redis is killed and restarted: every call
// returns (an error or an offset), none hangs, and publishing works afterwards.
func TestScriptPipeNoHangAcrossRestarts(t *testing.T) {
	srv := redistest.Start(t)
	b := newTestBroker(t, srv, Options{IOTimeout: time.Second})
	if _, err := b.Publish(ctx, "nh", testPub("x"), historyOpts()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, failed := 0, 0
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := b.Publish(ctx, "nh", testPub("x"), historyOpts())
				mu.Lock()
				if err == nil {
					ok++
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	progress := func() int {
		mu.Lock()
		defer mu.Unlock()
		return ok
	}
	for round := 0; round < 3; round++ {
		start := progress()
		deadline := time.Now().Add(10 * time.Second)
		for progress() < start+50 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no publications succeeding", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv.Kill()
		srv.Restart()
	}
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishers still blocked 10s after the last restart")
	}
	if _, err := b.Publish(ctx, "nh", testPub("x"), historyOpts()); err != nil {
		// The first call after a restart may meet the dropped connection.
		if _, err := b.Publish(ctx, "nh", testPub("x"), historyOpts()); err != nil {
			t.Fatalf("publish after restarts: %v", err)
		}
	}
	t.Logf("%d published, %d failed across 3 restarts", ok, failed)
}
