package fossil

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

type benchPair struct {
	name        string
	src, target []byte
}

func benchPairs() []benchPair {
	r := rand.New(rand.NewPCG(11, 12))
	doc := jsonDoc(r, 20)
	a, _ := json.Marshal(doc)
	doc["key_003"] = map[string]any{"id": 7, "name": "edited"}
	b, _ := json.Marshal(doc)
	big := jsonDoc(r, 400)
	c, _ := json.Marshal(big)
	big["key_200"] = "x"
	d, _ := json.Marshal(big)
	rnd := randBytes(r, 64<<10)
	return []benchPair{
		{fmt.Sprintf("json-%dB", len(b)), a, b},
		{fmt.Sprintf("json-%dKB", len(d)>>10), c, d},
		{"random-64KB-mutated", rnd, mutate(r, rnd, 50)},
		{"random-4KB-unrelated", randBytes(r, 4096), randBytes(r, 4096)},
	}
}

func BenchmarkCreate(b *testing.B) {
	for _, p := range benchPairs() {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.target)))
			for b.Loop() {
				_ = Create(p.src, p.target)
			}
		})
	}
}

func BenchmarkAppendCreate(b *testing.B) {
	for _, p := range benchPairs() {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.target)))
			buf := make([]byte, 0, len(p.target)+64)
			for b.Loop() {
				buf = AppendCreate(buf[:0], p.src, p.target)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	for _, p := range benchPairs() {
		d := Create(p.src, p.target)
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.target)))
			for b.Loop() {
				if _, err := Apply(p.src, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
