package config

import (
	"fmt"
	"time"
)

// Ops is the process-level keys the rotor binary honours itself: log.file,
// shutdown.timeout and pid_file. log.level stays in ServerConfig.LogLevel.
type Ops struct {
	// LogFile is log.file: append logs to this file instead of stderr.
	LogFile string
	// ShutdownTimeout is shutdown.timeout: how long a SIGINT/SIGTERM shutdown may
	// drain clients and requests before the process exits anyway; default 30s.
	ShutdownTimeout time.Duration
	// PIDFile is pid_file: the process ID is written there at start.
	PIDFile string
}

// DefaultShutdownTimeout is Centrifugo's shutdown.timeout default.
const DefaultShutdownTimeout = 30 * time.Second

func init() {
	Register(Topic{
		Keys: func(c *ServerConfig) []Key {
			o := Ext[Ops](c)
			if o.ShutdownTimeout == 0 {
				o.ShutdownTimeout = DefaultShutdownTimeout
			}
			return []Key{
				{"log.file", &o.LogFile},
				{"shutdown.timeout", &o.ShutdownTimeout},
				{"pid_file", &o.PIDFile},
			}
		},
		Validate: func(c *ServerConfig) error {
			if d := Ext[Ops](c).ShutdownTimeout; d <= 0 {
				return fmt.Errorf("shutdown.timeout: %s must be positive", d)
			}
			return nil
		},
	})
}
