package netio

import (
	"reflect"
	"sync"
	"syscall"
	"unsafe"

	_ "github.com/cloudwego/netpoll" // netpollBarrierPool is defined there
)

// netpollBarrierPool is netpoll's pool of per-connection write barriers: every
// connection takes one when it is created and keeps it until it closes. netpoll
// v0.7.2 sizes them for 32 iovecs (768 B of slices plus 512 B of iovecs, about
// 1.3 KiB per connection, a quarter of an idle connection's heap). A connection only
// uses its barrier in Flush, to pass the pending LinkBuffer nodes to one sendmsg;
// anything beyond the barrier's length is left to the poller, which writes with its
// own barriers. Our writes reach netpoll as one node (netio's slow path, fasthttp's
// bufio flushes), so a few entries are enough.
//
//go:linkname netpollBarrierPool github.com/cloudwego/netpoll.barrierPool
var netpollBarrierPool sync.Pool

// barrierLayout mirrors netpoll's unexported barrier; shrinkBarriers checks the
// mirror against the real type before using it.
type barrierLayout struct {
	bs  [][]byte
	ivs []syscall.Iovec
}

// barrierSlots is the number of iovecs in each connection's write barrier.
const barrierSlots = 4

// barriersShrunk reports whether shrinkBarriers took effect (for tests).
var barriersShrunk bool

// shrinkBarriers makes netpoll's barrier pool hand out barriers of barrierSlots
// entries (208 B instead of about 1.3 KiB). When netpoll's barrier type no longer
// matches barrierLayout (another netpoll version) it changes nothing and returns
// false; TestBarriersShrunk then fails. Called once by Init, before any netpoll
// connection exists.
func shrinkBarriers() bool {
	proto := netpollBarrierPool.Get()
	if proto == nil {
		return false
	}
	// proto is not put back: the pool should hold small barriers only.
	t := reflect.TypeOf(proto)
	if t.Kind() != reflect.Pointer {
		return false
	}
	e := t.Elem()
	var l barrierLayout
	if e.Kind() != reflect.Struct || e.NumField() != 2 || e.Size() != unsafe.Sizeof(l) {
		return false
	}
	bs, ivs := e.Field(0), e.Field(1)
	if bs.Name != "bs" || bs.Type != reflect.TypeOf(l.bs) || bs.Offset != unsafe.Offsetof(l.bs) ||
		ivs.Name != "ivs" || ivs.Type != reflect.TypeOf(l.ivs) || ivs.Offset != unsafe.Offsetof(l.ivs) {
		return false
	}
	netpollBarrierPool.New = func() any {
		v := reflect.New(e) // netpoll's own type, so its type assertion holds
		b := (*barrierLayout)(v.UnsafePointer())
		b.bs = make([][]byte, barrierSlots)
		b.ivs = make([]syscall.Iovec, barrierSlots)
		return v.Interface()
	}
	return true
}
