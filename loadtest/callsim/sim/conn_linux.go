package sim

import "syscall"

// Socket options of a slow caller: a 4 KiB receive buffer, and an MSS of
// 1,400 bytes, as over the internet. Over loopback the MSS is 64 KiB and
// the server's kernel grows its send buffer to megabytes before a write
// would block; with 1,400 bytes it stops at about 100 KiB.
const (
	slowRcvBuf = 4096
	slowMSS    = 1400
)

// slowSocket sets a slow caller's socket options before it connects.
func slowSocket(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, slowRcvBuf); serr != nil {
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, slowMSS)
	})
	if err != nil {
		return err
	}
	return serr
}
