//go:build !race

package engine

import "testing"

func TestFilterMatchAllocs(t *testing.T) {
	f := tfOr(
		tfAnd(tfLeaf("env", "eq", "prod"), tfLeaf("region", "in", "", "us", "eu")),
		tfAnd(tfLeaf("tier", "neq", "bronze"), tfNot(tfLeaf("debug", "ex", ""))),
		tfAnd(tfLeaf("path", "sw", "/api"), tfLeaf("path", "ew", ".json"), tfLeaf("path", "ct", "v1")),
		tfAnd(tfLeaf("amount", "gte", "10.5"), tfLeaf("amount", "lt", "-1"), tfLeaf("n", "nin", "", "1", "2")),
	)
	if err := validateFilter(f); err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{"env": "staging", "region": "us", "tier": "bronze", "path": "/api/v1/x.json", "amount": "12.25"}
	if n := testing.AllocsPerRun(1000, func() { _ = matchFilter(f, tags) }); n != 0 {
		t.Errorf("matchFilter: %.1f allocs per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = validateFilter(f) }); n != 0 {
		t.Errorf("validateFilter: %.1f allocs per call, want 0", n)
	}
}
