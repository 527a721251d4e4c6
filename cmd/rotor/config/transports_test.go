package config

import (
	"testing"
	"time"
)

func TestUniWebSocketKeys(t *testing.T) {
	for _, tt := range []struct {
		name      string
		json      string
		timeout   time.Duration
		handshake bool
		err       string
	}{
		{"defaults", `{}`, time.Second, false, ""},
		{"set", `{"uni_websocket":{"write_timeout":"5s","disable_closing_handshake":true}}`, 5 * time.Second, true, ""},
		{"zero", `{"uni_websocket":{"write_timeout":"0s"}}`, time.Second, false, ""},
		{"negative", `{"uni_websocket":{"write_timeout":"-1s"}}`, 0, false, "uni_websocket.write_timeout: -1s must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := loadJSONForTest(t, tt.json, nil)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := Ext[Transports](sc).UniWebSocket
			if u.WriteTimeout != tt.timeout || u.DisableClosingHandshake != tt.handshake {
				t.Fatalf("got write_timeout %v, disable_closing_handshake %v", u.WriteTimeout, u.DisableClosingHandshake)
			}
		})
	}
}
