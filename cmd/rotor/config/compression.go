package config

import "fmt"

// Compression is permessage-deflate on WebSocket connections (websocket.*).
type Compression struct {
	// Enabled is websocket.compression: negotiate permessage-deflate with clients
	// that offer it.
	Enabled bool
	// MinSize is websocket.compression_min_size: messages of at most this many
	// bytes go uncompressed; 0 compresses all.
	MinSize int
	// Level is websocket.compression_level, a flate level from -2 (Huffman only)
	// to 9; default 1.
	Level int
	// DecompressedMessageSizeLimit is websocket.decompressed_message_size_limit:
	// the largest inflated client message; 0 → 10 × websocket.message_size_limit.
	DecompressedMessageSizeLimit int

	defaulted bool
}

// DefaultCompressionLevel is Centrifugo's websocket.compression_level default.
const DefaultCompressionLevel = 1

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			x := Ext[Compression](c)
			if !x.defaulted {
				// Keys runs before the values are read; a configured 0 (no
				// compression, stored blocks) must survive, hence the flag.
				x.Level = DefaultCompressionLevel
				x.defaulted = true
			}
			return []Key{
				{"websocket.compression", &x.Enabled},
				{"websocket.compression_min_size", &x.MinSize},
				{"websocket.compression_level", &x.Level},
				{"websocket.decompressed_message_size_limit", &x.DecompressedMessageSizeLimit},
			}
		},
		Validate: func(c *ServerConfig) error {
			x := Ext[Compression](c)
			switch {
			case x.Level < -2 || x.Level > 9:
				return fmt.Errorf("websocket.compression_level: %d is not between -2 and 9", x.Level)
			case x.MinSize < 0:
				return fmt.Errorf("websocket.compression_min_size: %d must not be negative", x.MinSize)
			case x.DecompressedMessageSizeLimit < 0:
				return fmt.Errorf("websocket.decompressed_message_size_limit: %d must not be negative", x.DecompressedMessageSizeLimit)
			}
			return nil
		},
	})
}
