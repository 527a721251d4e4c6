package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces ARCHITECTURE.md §2 on the non-test imports of every
// package of the module, transitively (go list -deps): engine never reaches netio,
// api, proxy or broker; codec nothing internal; netio never api, proxy or broker;
// broker/* never netio, api, proxy or cmd; api and proxy never netio or broker;
// benchmarks only codec; nothing imports cmd.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/rotorhq/rotor/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, mod+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// forbidden lists, per package prefix, the internal packages (prefixes) its
	// dependencies must not include; allowedOnly, when set, is the complete list.
	rules := []struct {
		pkg         string
		forbidden   []string
		allowedOnly []string
	}{
		{pkg: "engine", forbidden: []string{"netio", "api", "proxy", "broker", "cmd", "benchmarks"}},
		{pkg: "codec", allowedOnly: []string{"codec"}},
		{pkg: "netio", forbidden: []string{"api", "proxy", "broker", "cmd"}},
		{pkg: "broker", forbidden: []string{"netio", "api", "proxy", "cmd", "benchmarks"}},
		{pkg: "api", forbidden: []string{"netio", "proxy", "broker", "cmd"}},
		{pkg: "proxy", forbidden: []string{"netio", "api", "broker", "cmd"}},
		{pkg: "benchmarks", allowedOnly: []string{"codec", "benchmarks"}},
		{pkg: "admin-ui", allowedOnly: []string{"admin-ui"}},
	}
	under := func(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		for _, r := range rules {
			if !under(pkg, r.pkg) {
				continue
			}
			seen[r.pkg] = true
			for _, d := range fields[1:] {
				if !strings.HasPrefix(d, mod) {
					continue
				}
				dep := strings.TrimPrefix(d, mod)
				if under(dep, "cmd") {
					t.Errorf("%s imports %s: nothing imports cmd", pkg, dep)
				}
				if r.allowedOnly != nil {
					ok := false
					for _, a := range r.allowedOnly {
						ok = ok || under(dep, a)
					}
					if !ok {
						t.Errorf("%s imports %s; it may import only %v", pkg, dep, r.allowedOnly)
					}
					continue
				}
				for _, f := range r.forbidden {
					if under(dep, f) {
						t.Errorf("%s imports %s (ARCHITECTURE.md §2 forbids %s → %s)", pkg, dep, r.pkg, f)
					}
				}
			}
		}
	}
	for _, r := range rules {
		if !seen[r.pkg] {
			t.Errorf("go list did not list %s", r.pkg)
		}
	}
}
