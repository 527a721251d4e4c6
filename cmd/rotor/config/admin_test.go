package config

import (
	"strings"
	"testing"
)

func TestAdminKeys(t *testing.T) {
	t.Parallel()
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, d := *Ext[Admin](c), *Ext[Debug](c); a != (Admin{}) || d != (Debug{HandlerPrefix: "/debug/pprof"}) {
		t.Fatalf("defaults: %+v %+v", a, d)
	}
	path := writeFile(t, "c.json", `{"admin":{"enabled":true,"password":"p","secret":"s","insecure":true,
		"handler_prefix":"/ui","external":true,"web_path":"/w","web_proxy_address":"http://127.0.0.1:3000"},"debug":{"enabled":true,"handler_prefix":"/dbg"}}`)
	c, err = Load(path, []string{"CENTRIFUGO_ADMIN_PASSWORD=fromenv"})
	if err != nil {
		t.Fatal(err)
	}
	want := Admin{Enabled: true, Password: "fromenv", Secret: "s", Insecure: true, HandlerPrefix: "/ui", External: true, WebPath: "/w", WebProxyAddress: "http://127.0.0.1:3000"}
	if a := *Ext[Admin](c); a != want {
		t.Fatalf("admin: %+v", a)
	}
	if d := *Ext[Debug](c); d != (Debug{Enabled: true, HandlerPrefix: "/dbg"}) {
		t.Fatalf("debug: %+v", d)
	}
	if len(c.Ignored) != 0 {
		t.Fatalf("ignored: %v", c.Ignored)
	}
	if _, err := Load(writeFile(t, "c.json", `{"admin":{"web_proxy_address":"http://a b:%zz"}}`), nil); err == nil || !strings.Contains(err.Error(), "admin.web_proxy_address") {
		t.Fatalf("bad proxy address: %v", err)
	}
	if _, err := Load(writeFile(t, "c.json", `{"admin":{"handler_prefix":"ui"}}`), nil); err == nil || !strings.Contains(err.Error(), "admin.handler_prefix") {
		t.Fatalf("bad prefix: %v", err)
	}
}
