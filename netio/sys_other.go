//go:build !linux && !windows

package netio

import (
	"syscall"
	"unsafe"
)

// sysSend writes p to the non-blocking socket fd with one write(2). The Go runtime
// ignores SIGPIPE for descriptors other than 1 and 2, so a closed peer gives EPIPE.
func sysSend(fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}
