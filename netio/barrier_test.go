package netio

import (
	"reflect"
	"testing"
)

// TestBarriersShrunk guards barrier.go against a netpoll upgrade that changes its
// barrier type: the shrink must have applied, and the pool must hand out netpoll's
// own type with barrierSlots entries.
func TestBarriersShrunk(t *testing.T) {
	Init()
	if !barriersShrunk {
		t.Fatal("netpoll's barrier type changed: barrier.go no longer shrinks write barriers")
	}
	v := netpollBarrierPool.Get()
	defer netpollBarrierPool.Put(v)
	rv := reflect.ValueOf(v).Elem()
	if got := rv.Type().String(); got != "netpoll.barrier" {
		t.Fatalf("pool holds %s", got)
	}
	if n := rv.Field(0).Len(); n != barrierSlots {
		t.Fatalf("barrier has %d slots, want %d", n, barrierSlots)
	}
	if n := rv.Field(1).Len(); n != barrierSlots {
		t.Fatalf("barrier has %d iovecs, want %d", n, barrierSlots)
	}
}
