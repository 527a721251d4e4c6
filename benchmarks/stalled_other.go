//go:build !linux

package benchmarks

// setMSS is a no-op off Linux: only the small receive buffer is applied there, so
// stalled subscribers may take longer to fill the server's socket.
func setMSS(fd, mss int) error { return nil }
