//go:build linux

package netio

import (
	"syscall"
	"unsafe"
)

// sysSend writes p to the non-blocking socket fd with one send(2), without raising
// SIGPIPE. It returns the bytes written and the errno (0 on success).
func sysSend(fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])),
		uintptr(len(p)), syscall.MSG_NOSIGNAL|syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}
