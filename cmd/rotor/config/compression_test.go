package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCompressionKeys(t *testing.T) {
	for _, tt := range []struct {
		name string
		json string
		env  []string
		want Compression
		err  string
	}{
		{"defaults", `{}`, nil, Compression{Level: 1}, ""},
		{"set", `{"websocket":{"compression":true,"compression_min_size":128,"compression_level":0,"decompressed_message_size_limit":1000}}`, nil,
			Compression{Enabled: true, MinSize: 128, Level: 0, DecompressedMessageSizeLimit: 1000}, ""},
		{"env", `{}`, []string{"CENTRIFUGO_WEBSOCKET_COMPRESSION=true", "ROTOR_WEBSOCKET_COMPRESSION_LEVEL=9"}, Compression{Enabled: true, Level: 9}, ""},
		{"bad level", `{"websocket":{"compression_level":10}}`, nil, Compression{}, "websocket.compression_level: 10 is not between -2 and 9"},
		{"bad min", `{"websocket":{"compression_min_size":-1}}`, nil, Compression{}, "websocket.compression_min_size: -1 must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := loadJSONForTest(t, tt.json, tt.env)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := *Ext[Compression](sc)
			got.defaulted = false
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// loadJSONForTest loads a config file with body js and the environment env.
func loadJSONForTest(t *testing.T, js string, env []string) (*ServerConfig, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, env)
}
