// Command loadgen is the load tool as a standalone binary; it is the same code as
// `rotor bench` (see package benchmarks).
package main

import (
	"os"

	"github.com/rotorhq/rotor/benchmarks"
)

func main() {
	os.Exit(benchmarks.Main(os.Args[1:], os.Stdout, os.Stderr))
}
