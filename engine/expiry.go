package engine

import (
	"math"
	"time"
)

// maxUnixSec is the last unix second whose instant fits in int64 nanoseconds (year
// 2262).
const maxUnixSec = math.MaxInt64 / int64(time.Second)

// unixNanoSat returns the instant sec unix seconds plus delay, in unix nanoseconds,
// saturating at math.MaxInt64 (and math.MinInt64 below) instead of overflowing.
// Tokens and proxies may send any expiry up to 9999-12-31 (253402300799): multiplied
// by time.Second it wraps negative, and the connection or subscription was closed as
// expired at once. A saturated deadline equals noDeadline, which the timer code
// treats as never, as it is for any practical purpose. delay must not be negative.
func unixNanoSat(sec int64, delay time.Duration) int64 {
	switch {
	case sec > maxUnixSec:
		return math.MaxInt64
	case sec < -maxUnixSec:
		return math.MinInt64
	}
	ns := sec * int64(time.Second)
	if ns > math.MaxInt64-int64(delay) {
		return math.MaxInt64
	}
	return ns + int64(delay)
}
