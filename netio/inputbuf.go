package netio

import (
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// An idle netpoll connection keeps the last node of its input LinkBuffer, with a
// 512-byte buffer, between reads: about a seventh of an idle connection's heap.
// netpoll itself drops that node on Release when the input is empty, but only for
// connections whose largest read so far (the unexported connection.maxSize) is above
// its 8 KiB page size. Starting every connection just above that makes an idle
// connection hold no input buffer at all: each read then takes a pooled buffer
// (netpoll's mcache) and gives it back when the input has been consumed.
const inputReleaseSize = 8<<10 + 1

var (
	inputReleaseOnce   sync.Once
	inputReleaseOffset uintptr // offset of connection.maxSize; 0: not found, no effect
)

// findMaxSize locates netpoll's connection.maxSize in nc's type; when the type no
// longer looks like netpoll v0.7's connection it leaves the offset at 0 and
// releaseIdleInput changes nothing (TestIdleInputReleased then fails).
func findMaxSize(nc netpoll.Connection) {
	t := reflect.TypeOf(nc)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return
	}
	e := t.Elem()
	if e.Name() != "connection" || !strings.HasSuffix(e.PkgPath(), "cloudwego/netpoll") {
		return
	}
	f, ok := e.FieldByName("maxSize")
	if !ok || f.Type.Kind() != reflect.Int || len(f.Index) != 1 {
		return
	}
	if b, ok := e.FieldByName("bookSize"); !ok || b.Type.Kind() != reflect.Int {
		return
	}
	inputReleaseOffset = f.Offset
}

// releaseIdleInput sets nc's maxSize so that netpoll frees its input buffer whenever
// it has been read to the end. It must run before nc's first read: onPrepare, on the
// poller goroutine that owns nc.
func releaseIdleInput(nc netpoll.Connection) {
	inputReleaseOnce.Do(func() { findMaxSize(nc) })
	if inputReleaseOffset == 0 {
		return
	}
	p := reflect.ValueOf(nc).UnsafePointer()
	if p == nil {
		return
	}
	ms := (*int)(unsafe.Add(p, inputReleaseOffset))
	if *ms < inputReleaseSize {
		*ms = inputReleaseSize
	}
}
