//go:build !race

package fossil

import (
	"math/rand/v2"
	"testing"
)

func TestAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	src := randBytes(r, 8192)
	target := mutate(r, src, 10)
	d := Create(src, target)
	if n := testing.AllocsPerRun(100, func() { _ = Create(src, target) }); n > 1 {
		t.Errorf("Create: %.1f allocs, want 1", n)
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCreate(buf[:0], src, target) }); n > 0 {
		t.Errorf("AppendCreate into a large enough buffer: %.1f allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Apply(src, d) }); n > 1 {
		t.Errorf("Apply: %.1f allocs, want 1", n)
	}
}
