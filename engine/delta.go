package engine

import (
	"github.com/rotorhq/rotor/codec"
	"github.com/rotorhq/rotor/codec/fossil"
)

// Delta compression (client-protocol.md §10): a subscriber that negotiated "fossil"
// gets the first publication in full and later delta-enabled ones as Fossil patches
// against the previous publication of the channel, when the patch is smaller. On the
// JSON protocol every publication to such a subscriber carries its data as a JSON
// string. Publications of namespaces that allow deltas are serialized under the
// channel's publish lock, so every subscriber sees the same sequence of bases.

// nsAllowsDelta reports whether the namespace lets clients negotiate fossil deltas.
func nsAllowsDelta(ns *NamespaceOptions) bool {
	for _, d := range ns.AllowedDeltaTypes {
		if d == "fossil" {
			return true
		}
	}
	return false
}

// deltaVariant builds the publication a delta subscriber receives: data is either
// the full payload or a patch, string-encoded for JSON. buf holds the encoded data.
func deltaVariant(p codec.Protocol, pub *codec.Publication, data []byte, isPatch bool, buf *[]byte) codec.Publication {
	out := *pub
	out.Delta = isPatch
	out.PrevData = nil
	if p == codec.ProtocolJSON {
		*buf = codec.AppendJSONStringBytes((*buf)[:0], data)
		out.Data = *buf
	} else {
		out.Data = data
	}
	return out
}

// deltaSequence turns recovered publications into what a delta subscriber gets: the
// first in full, each next one as a patch against its predecessor when smaller.
func deltaSequence(p codec.Protocol, pubs []*codec.Publication) []*codec.Publication {
	out := make([]*codec.Publication, len(pubs))
	for i, pub := range pubs {
		var buf []byte
		var v codec.Publication
		if i == 0 {
			v = deltaVariant(p, pub, pub.Data, false, &buf)
		} else if patch := fossil.Create(pubs[i-1].Data, pub.Data); len(patch) < len(pub.Data) {
			v = deltaVariant(p, pub, patch, true, &buf)
		} else {
			v = deltaVariant(p, pub, pub.Data, false, &buf)
		}
		out[i] = &v
	}
	return out
}

// broadcastDelta sends pub to the delta subscriber e: a patch against prev when the
// subscriber holds the previous publication and the patch is smaller, else the full
// payload. encoded caches the two variants per protocol across subscribers.
// It returns the size of the message queued. Must hold the channel's hub shard (R)
// and publish lock.
func (h *hub) sendDelta(e *subEntry, channel string, pub *codec.Publication, prev []byte, d *deltaCache) int {
	p := e.c.proto
	usePatch := false
	if e.x.deltaReady && prev != nil {
		if !d.patchDone {
			d.patch = fossil.AppendCreate(d.patch[:0], prev, pub.Data)
			d.patchDone = true
		}
		usePatch = len(d.patch) < len(pub.Data)
	}
	kind := 0
	if usePatch {
		kind = 1
	}
	b := d.encoded[p][kind]
	if b == nil {
		b = getBuf()
		data := pub.Data
		if usePatch {
			data = d.patch
		}
		var scratch []byte
		v := deltaVariant(p, pub, data, usePatch, &scratch)
		*b = codec.AppendPublicationPush(p, (*b)[:0], channel, &v)
		d.encoded[p][kind] = b
	}
	if err := e.c.t.Enqueue(*b); err != nil {
		e.c.enqueueFailed(err)
		return 0
	}
	e.x.deltaReady = true
	return len(*b)
}

// deltaCache holds the per-broadcast encodings for delta subscribers.
type deltaCache struct {
	patch     []byte
	patchDone bool
	encoded   [2][2]*[]byte // [protocol][full, patch]
}

func (d *deltaCache) release() {
	for p := range d.encoded {
		for k := range d.encoded[p] {
			if b := d.encoded[p][k]; b != nil {
				putBuf(b)
				d.encoded[p][k] = nil
			}
		}
	}
}
