//go:build linux

package benchmarks

import "syscall"

func setMSS(fd, mss int) error {
	return syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
}
