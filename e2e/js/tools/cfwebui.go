//go:build ignore

// Command cfwebui extracts Centrifugo v6.9.1's embedded admin web app (the statik zip
// in internal/webui/statik.go of the Go module) into a directory, for the test that
// serves it from Rotor with admin.web_path. It downloads the module into the Go
// module cache when it is not there yet.
//
//	go run tools/cfwebui.go <outdir>
package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

const module = "github.com/centrifugal/centrifugo/v6@v6.9.1"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run tools/cfwebui.go <outdir>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "cfwebui:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return err
	}
	src := filepath.Join(strings.TrimSpace(string(cache)), "github.com/centrifugal/centrifugo/v6@v6.9.1/internal/webui/statik.go")
	if _, err := os.Stat(src); err != nil {
		cmd := exec.Command("go", "mod", "download", module)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go mod download %s: %w", module, err)
		}
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	s := string(b)
	start := strings.Index(s, `data := "`)
	if start < 0 {
		return fmt.Errorf("%s: no data literal", src)
	}
	s = s[start+len(`data := `):]
	end := strings.Index(s, "\"\n")
	if end < 0 {
		return fmt.Errorf("%s: unterminated data literal", src)
	}
	data, err := strconv.Unquote(s[:end+1])
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(bytes.NewReader([]byte(data)), int64(len(data)))
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		dst := filepath.Join(out, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(dst, filepath.Clean(out)+string(os.PathSeparator)) {
			return fmt.Errorf("bad path %q", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		r, err := f.Open()
		if err != nil {
			return err
		}
		w, err := os.Create(dst)
		if err != nil {
			r.Close()
			return err
		}
		_, err = io.Copy(w, r)
		r.Close()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
