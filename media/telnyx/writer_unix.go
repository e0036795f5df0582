//go:build unix

package telnyx

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// rawConn returns the socket under nc to write to without blocking, or nil
// when nc does not offer one (a TLS connection, a pipe, a wrapper).
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawWrite writes w.rawBuf[w.rawN:] to the non-blocking socket fd until it
// is written or the socket's buffer is full. It reports done: the runtime
// must not wait for the socket to become writable.
func (w *writer) rawWrite(fd uintptr) bool {
	for w.rawN < len(w.rawBuf) {
		n, err := syscall.Write(int(fd), w.rawBuf[w.rawN:])
		if err == nil {
			if n <= 0 {
				return true
			}
			w.rawN += n
			continue
		}
		switch {
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return true // full: the rest waits for a background write
		default:
			w.rawErr = os.NewSyscallError("write", err)
			return true
		}
	}
	return true
}
