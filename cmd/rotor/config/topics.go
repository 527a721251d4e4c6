package config

import (
	"reflect"
	"sync"
)

// Topics: a feature's keys live in the feature's own file of this package
// (metrics.go, admin.go, tls.go, …), which registers them from an init function:
//
//	type Admin struct{ Enabled bool; Password string }
//
//	func init() {
//		Register(Topic{
//			Keys: func(c *ServerConfig) []Key {
//				a := Ext[Admin](c)
//				return []Key{{"admin.enabled", &a.Enabled}, {"admin.password", &a.Password}}
//			},
//			Validate: func(c *ServerConfig) error { … },
//		})
//	}
//
// and the wiring reads config.Ext[config.Admin](sc). Keys works like topKeys: set the
// defaults on the struct, then return the keys; each key gets its environment
// variables (CENTRIFUGO_ADMIN_ENABLED, ROTOR_ADMIN_ENABLED) and leaves the
// "not honoured" reports (report.go) once registered. No edit of config.go needed.

// Topic is the keys one feature honours.
type Topic struct {
	// Keys sets the defaults of the topic's fields in c and returns the keys that
	// fill them. It may be called more than once per load.
	Keys func(c *ServerConfig) []Key
	// Validate, if set, checks the loaded values; errors should name the key.
	Validate func(c *ServerConfig) error
}

var (
	topicsMu sync.Mutex
	topics   []Topic
)

// Register adds a topic; call it from an init function.
func Register(t Topic) {
	topicsMu.Lock()
	defer topicsMu.Unlock()
	topics = append(topics, t)
}

func registered() []Topic {
	topicsMu.Lock()
	defer topicsMu.Unlock()
	return append([]Topic(nil), topics...)
}

// Ext returns the topic struct T held by c, creating it zeroed on first use.
func Ext[T any](c *ServerConfig) *T {
	if c.ext == nil {
		c.ext = map[reflect.Type]any{}
	}
	typ := reflect.TypeFor[T]()
	if v, ok := c.ext[typ]; ok {
		return v.(*T)
	}
	v := new(T)
	c.ext[typ] = v
	return v
}

// allKeys is topKeys and every registered topic's keys.
func allKeys(c *ServerConfig) []Key {
	keys := topKeys(c)
	for _, t := range registered() {
		if t.Keys != nil {
			keys = append(keys, t.Keys(c)...)
		}
	}
	return keys
}

func (c *ServerConfig) validateTopics() error {
	for _, t := range registered() {
		if t.Validate == nil {
			continue
		}
		if err := t.Validate(c); err != nil {
			return err
		}
	}
	return nil
}

// KeyPaths lists every key the loader honours (dotted paths), for reports and tests.
func KeyPaths() []string {
	var c ServerConfig
	var out []string
	for _, k := range allKeys(&c) {
		out = append(out, k.Path)
	}
	return out
}
