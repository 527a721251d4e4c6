package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Admin is the admin.* section (config.md §10).
type Admin struct {
	Enabled       bool
	Password      string
	Secret        string
	Insecure      bool
	HandlerPrefix string
	External      bool
	WebPath       string
	// WebProxyAddress is admin.web_proxy_address (UI development server to proxy to).
	WebProxyAddress string
}

// Debug is the debug.* section: pprof on the internal port.
type Debug struct {
	Enabled       bool
	HandlerPrefix string
}

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			a := Ext[Admin](c)
			d := Ext[Debug](c)
			d.HandlerPrefix = "/debug/pprof"
			return []Key{
				{"admin.enabled", &a.Enabled},
				{"admin.password", &a.Password},
				{"admin.secret", &a.Secret},
				{"admin.insecure", &a.Insecure},
				{"admin.handler_prefix", &a.HandlerPrefix},
				{"admin.external", &a.External},
				{"admin.web_path", &a.WebPath},
				{"admin.web_proxy_address", &a.WebProxyAddress},
				{"debug.enabled", &d.Enabled},
				{"debug.handler_prefix", &d.HandlerPrefix},
			}
		},
		Validate: func(c *ServerConfig) error {
			if p := Ext[Admin](c).HandlerPrefix; p != "" && !strings.HasPrefix(p, "/") {
				return errors.New(`admin.handler_prefix: must start with "/"`)
			}
			if addr := Ext[Admin](c).WebProxyAddress; addr != "" {
				if _, err := url.Parse(addr); err != nil {
					return fmt.Errorf("admin.web_proxy_address: %w", err)
				}
			}
			if p := Ext[Debug](c).HandlerPrefix; p != "" && !strings.HasPrefix(p, "/") {
				return errors.New(`debug.handler_prefix: must start with "/"`)
			}
			return nil
		},
	})
}
