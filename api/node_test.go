package api

import "github.com/rotorhq/rotor/engine"

// *engine.Node is the production Node.
var _ Node = (*engine.Node)(nil)
