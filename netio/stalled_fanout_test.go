//go:build linux && !race

package netio

import (
	"bytes"
	"errors"
	"fmt"

	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/engine"
	"github.com/rotorhq/rotor/netio/ws"
)

// observedTransport passes everything to netio's transport and records the
// disconnect the engine asks for, so a test knows when the server gave up on a
// client that does not read.
type observedTransport struct {
	engine.Transport
	once   sync.Once
	code   atomic.Uint32
	closed chan struct{}
}

func (o *observedTransport) Close(d engine.Disconnect) {
	o.once.Do(func() {
		o.code.Store(d.Code)
		close(o.closed)
	})
	o.Transport.Close(d)
}

// fanoutPhase is one publishing run as the normal subscribers saw it.
type fanoutPhase struct {
	published int
	lat       [][]time.Duration // per subscriber
}

func (p *fanoutPhase) p99() time.Duration {
	var all []time.Duration
	for _, l := range p.lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[len(all)*99/100]
}

// TestStalledSubscribersDoNotHurtOthers is the case of issue 9 over real sockets
// with the real engine: 500 subscribers of one channel get 100 publications/s of
// 2 KB, in three runs back to back: 5 s alone, 15 s while 20 more subscribers
// arrive one every 500 ms and stop reading (small receive buffer and capped MSS, so
// the server's socket really fills), and 5 s alone again. The normal subscribers
// must lose nothing and keep their p99 latency within 2x of the two runs alone
// (pooled, so a change in the machine's load during the test shows on both
// sides), or within
// 200 ms of it: on the shared 2-core machine this was written on, two runs without
// any stalled subscriber, back to back, differed by up to 150 ms in p99 (201 ms
// then 60 ms; 42 ms then 106 ms), so 2x of a quiet baseline alone is a coin toss,
// while a blocked worker costs seconds (p99 1-2 s, and queues overflow: before the
// fix the normal subscribers themselves were disconnected with 3008).
// Each stalled subscriber must be disconnected with 3008 once its queue passes
// client.queue_max_size, and must find that close frame when it reads again.
//
// The write timeout is raised to 10 s here so the queue limit, not the timeout,
// ends the stalled ones (at 200 KB/s a 256 KiB queue fills in about 1.3 s).
func TestStalledSubscribersDoNotHurtOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("short: about 30 s of load")
	}
	const (
		normalN   = 500
		stalledN  = 20
		every     = 500 * time.Millisecond
		rate      = 100
		size      = 2048
		queueMax  = 256 << 10
		baseline  = 5 * time.Second
		withStall = stalledN*every + 5*time.Second
	)
	var omu sync.Mutex
	observed := map[string]*observedTransport{}
	ns := startNodeServer(t, Config{QueueMaxSize: queueMax, WriteTimeout: 10 * time.Second},
		engine.Config{Insecure: true, PingInterval: -1},
		func(tr engine.Transport, r *UpgradeRequest) engine.Transport {
			o := &observedTransport{Transport: tr, closed: make(chan struct{})}
			omu.Lock()
			observed[r.RemoteAddr] = o
			omu.Unlock()
			return o
		})
	addr := ns.srv.Addr().String()

	// Phase 2 is a warm-up (pools, goroutine stacks, the first GC cycles with 500
	// connections), not measured.
	phases := [3]*fanoutPhase{{}, {}, {}}
	for ph, p := range phases {
		p.lat = make([][]time.Duration, normalN)
		if ph < 2 {
			for i := range p.lat {
				p.lat[i] = make([]time.Duration, 0, int(max(withStall, 2*baseline)/time.Second+1)*rate)
			}
		}
	}
	var readers sync.WaitGroup
	var readErrs atomic.Int64
	clients := make([]*wsClient, normalN)
	for i := range clients {
		clients[i] = dialSubscribe(t, nil, addr, "feed")
	}
	for i, wc := range clients {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				op, p, err := wc.next()
				if err != nil {
					return
				}
				if op == ws.OpClose {
					readErrs.Add(1)
					return
				}
				now := time.Now().UnixNano()
				for len(p) > 0 {
					ph, ts, rest, ok := parsePub(p)
					if !ok {
						break
					}
					phases[ph].lat[i] = append(phases[ph].lat[i], time.Duration(now-ts))
					p = rest
				}
			}
		}()
	}

	pad := bytes.Repeat([]byte{'x'}, size)
	// publish runs for d, and then for as long as more says (nil: no longer).
	publish := func(ph int, d time.Duration, more func() bool) {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		end := time.Now().Add(d)
		buf := make([]byte, 0, size+64)
		for time.Now().Before(end) || (more != nil && more()) {
			<-tick.C
			buf = fmt.Appendf(buf[:0], `{"ph":%d,"ts":%d,"pad":"%s"}`, ph, time.Now().UnixNano(), pad)
			if _, err := ns.node.Publish("feed", buf, engine.PublishOptions{}); err != nil {
				t.Error(err)
				return
			}
			phases[ph].published++
		}
	}
	// waitDelivered waits (bounded) until every normal subscriber has all of a
	// phase's publications; the checks below report what is missing.
	waitDelivered := func(ph int) {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			done := 0
			for i := range clients {
				if len(phases[ph].lat[i]) >= phases[ph].published {
					done++
				}
			}
			if done == normalN {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	publish(2, time.Second, nil)
	waitDelivered(2)
	// Run 1: no stalled subscribers.
	publish(0, baseline, nil)
	waitDelivered(0)

	// Run 2: stalled subscribers arrive while publishing.
	type stalledResult struct {
		serverCode, clientCode uint32
		err                    error
	}
	results := make([]stalledResult, stalledN)
	var stalled sync.WaitGroup
	stalled.Add(stalledN)
	// On a slow machine the publisher falls behind its rate, and the last stalled
	// subscribers may not have had a full queue's worth when the run's time is up:
	// it goes on publishing until every stalled one is done (bounded below).
	stalledDone := make(chan struct{})
	go func() {
		stalled.Wait()
		close(stalledDone)
	}()
	go func() {
		for k := 0; k < stalledN; k++ {
			time.Sleep(every)
			wc := dialSubscribe(t, stalledDialer(), addr, "feed")
			omu.Lock()
			o := observed[wc.c.LocalAddr().String()]
			omu.Unlock()
			go func() {
				defer stalled.Done()
				r := &results[k]
				if o == nil {
					r.err = errors.New("no server transport found")
					return
				}
				// Not a byte is read until the server gives up on this client.
				select {
				case <-o.closed:
				case <-time.After(60 * time.Second):
					r.err = errors.New("never disconnected")
					return
				}
				r.serverCode = o.code.Load()
				_ = wc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					op, p, err := wc.next()
					if err != nil {
						r.err = fmt.Errorf("no close frame: %w", err)
						return
					}
					if op == ws.OpClose {
						code, _, _ := ws.ParseClose(p)
						r.clientCode = uint32(code)
						_ = wc.c.Close() // end the closing handshake
						return
					}
				}
			}()
		}
	}()
	giveUp := time.Now().Add(withStall + time.Minute)
	publish(1, withStall, func() bool {
		if time.Now().After(giveUp) {
			return false
		}
		select {
		case <-stalledDone:
			return false
		default:
			return true
		}
	})
	waitDelivered(1)
	select {
	case <-stalledDone:
	case <-time.After(time.Minute):
		t.Error("stalled subscribers' checks never finished")
	}
	// Run 1 again: the baseline brackets the stalled run, so a change in the
	// machine's load during the test shows in both.
	publish(0, baseline, nil)
	waitDelivered(0)

	for i := range clients {
		_ = clients[i].c.Close()
	}
	readers.Wait()

	p99a, p99b := phases[0].p99(), phases[1].p99()
	t.Logf("normal subscribers' p99: %v alone (before and after), %v with %d stalled subscribers (%d and %d publications)",
		p99a, p99b, stalledN, phases[0].published, phases[1].published)
	for ph, p := range phases[:2] {
		lost, hit := 0, 0
		for i := range clients {
			if n := len(p.lat[i]); n < p.published {
				lost += p.published - n
				hit++
			}
		}
		if lost > 0 {
			t.Errorf("%s: %d normal subscribers lost %d publications in all", [2]string{"runs alone", "run with stalled subscribers"}[ph], hit, lost)
		}
	}
	if n := readErrs.Load(); n > 0 {
		t.Errorf("%d normal subscribers were disconnected", n)
	}
	if limit := max(2*p99a, p99a+200*time.Millisecond); p99b > limit {
		t.Errorf("p99 with stalled subscribers %v exceeds %v (alone: %v)", p99b, limit, p99a)
	}
	for k, r := range results {
		if r.err != nil || r.serverCode != engine.DisconnectSlow.Code || r.clientCode != engine.DisconnectSlow.Code {
			t.Errorf("stalled subscriber %d: server disconnect %d, close frame %d, err %v", k, r.serverCode, r.clientCode, r.err)
		}
	}
}

// parsePub finds the next publication in a frame payload (pushes joined by '\n')
// and returns its phase and timestamp, and the rest of the payload.
func parsePub(p []byte) (ph int, ts int64, rest []byte, ok bool) {
	i := bytes.Index(p, []byte(`"ph":`))
	if i < 0 {
		return 0, 0, nil, false
	}
	p = p[i+5:]
	j := bytes.IndexByte(p, ',')
	if j < 0 {
		return 0, 0, nil, false
	}
	ph, err := strconv.Atoi(string(p[:j]))
	if err != nil || ph < 0 || ph > 2 {
		return 0, 0, nil, false
	}
	p = p[j+1:]
	if !bytes.HasPrefix(p, []byte(`"ts":`)) {
		return 0, 0, nil, false
	}
	p = p[5:]
	j = bytes.IndexByte(p, ',')
	if j < 0 {
		return 0, 0, nil, false
	}
	ts, err = strconv.ParseInt(string(p[:j]), 10, 64)
	if err != nil {
		return 0, 0, nil, false
	}
	return ph, ts, p[j:], true
}
