package e2e_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/e2e/harness"
)

// protocolKind selects the SDK's wire encoding.
type protocolKind int

const (
	protoJSON protocolKind = iota
	protoProtobuf
)

func (p protocolKind) String() string {
	if p == protoProtobuf {
		return "protobuf"
	}
	return "json"
}

// eventLog records every client-level event the SDK reports, in order.
type eventLog struct {
	mu     sync.Mutex
	events []any
}

func (l *eventLog) add(ev any) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]any(nil), l.events...)
}

func (l *eventLog) String() string {
	var s string
	for _, ev := range l.snapshot() {
		s += fmt.Sprintf("  %T %+v\n", ev, ev)
	}
	return s
}

// eventsOf returns the recorded events of type T.
func eventsOf[T any](l *eventLog) []T {
	var out []T
	for _, ev := range l.snapshot() {
		if v, ok := ev.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// waitEvent waits until an event of type T satisfying match was recorded.
func waitEvent[T any](t *testing.T, l *eventLog, timeout time.Duration, what string, match func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, ev := range eventsOf[T](l) {
			if match == nil || match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			var zero T
			t.Fatalf("no %T (%s) within %v; events so far:\n%s", zero, what, timeout, l)
			return zero
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newClient builds an SDK client for srv that records its events. The client
// is closed when the test ends. Connect is left to the caller.
func newClient(t *testing.T, srv *harness.Server, proto protocolKind, cfg centrifuge.Config) (*centrifuge.Client, *eventLog) {
	t.Helper()
	if cfg.MinReconnectDelay == 0 {
		cfg.MinReconnectDelay = 100 * time.Millisecond
	}
	if cfg.MaxReconnectDelay == 0 {
		cfg.MaxReconnectDelay = 500 * time.Millisecond
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = harness.ClientTLSConfig()
	}
	var c *centrifuge.Client
	if proto == protoProtobuf {
		c = centrifuge.NewProtobufClient(srv.WSURL, cfg)
	} else {
		c = centrifuge.NewJsonClient(srv.WSURL, cfg)
	}
	log := &eventLog{}
	c.OnConnecting(func(e centrifuge.ConnectingEvent) { log.add(e) })
	c.OnConnected(func(e centrifuge.ConnectedEvent) { log.add(e) })
	c.OnDisconnected(func(e centrifuge.DisconnectedEvent) { log.add(e) })
	c.OnError(func(e centrifuge.ErrorEvent) { log.add(e) })
	t.Cleanup(c.Close)
	return c, log
}

// subscription wraps an SDK subscription with recorded events and a
// publication channel.
type subscription struct {
	*centrifuge.Subscription
	log  *eventLog
	pubs chan centrifuge.Publication
}

func newSubscription(t *testing.T, c *centrifuge.Client, channel string) *subscription {
	t.Helper()
	sub, err := c.NewSubscription(channel, centrifuge.SubscriptionConfig{
		MinResubscribeDelay: 100 * time.Millisecond,
		MaxResubscribeDelay: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewSubscription(%q): %v", channel, err)
	}
	s := &subscription{Subscription: sub, log: &eventLog{}, pubs: make(chan centrifuge.Publication, 1024)}
	sub.OnSubscribing(func(e centrifuge.SubscribingEvent) { s.log.add(e) })
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) { s.log.add(e) })
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) { s.log.add(e) })
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) { s.log.add(e) })
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		select {
		case s.pubs <- e.Publication:
		default:
			s.log.add(fmt.Errorf("publication buffer full, dropped offset %d", e.Offset))
		}
	})
	return s
}

// nextPublication returns the next publication or fails after timeout.
func (s *subscription) nextPublication(t *testing.T, timeout time.Duration) centrifuge.Publication {
	t.Helper()
	select {
	case p := <-s.pubs:
		return p
	case <-time.After(timeout):
		t.Fatalf("%s: no publication within %v; subscription events:\n%s", s.Channel, timeout, s.log)
		return centrifuge.Publication{}
	}
}

// expectNoPublication fails if a publication arrives within d.
func (s *subscription) expectNoPublication(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-s.pubs:
		t.Fatalf("%s: unexpected publication %q", s.Channel, p.Data)
	case <-time.After(d):
	}
}

// serverError extracts the *centrifuge.Error an SDK error wraps.
func serverError(err error) (*centrifuge.Error, bool) {
	var se *centrifuge.Error
	if errors.As(err, &se) {
		return se, true
	}
	return nil, false
}

// connectAndWait connects c and waits for the connected event.
func connectAndWait(t *testing.T, c *centrifuge.Client, log *eventLog) centrifuge.ConnectedEvent {
	t.Helper()
	if err := c.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return waitEvent[centrifuge.ConnectedEvent](t, log, 5*time.Second, "connected", nil)
}

// subscribeAndWait subscribes and waits for the subscribed event.
func subscribeAndWait(t *testing.T, s *subscription) {
	t.Helper()
	if err := s.Subscribe(); err != nil {
		t.Fatalf("Subscribe(%q): %v", s.Channel, err)
	}
	waitEvent[centrifuge.SubscribedEvent](t, s.log, 5*time.Second, "subscribed to "+s.Channel, nil)
}
