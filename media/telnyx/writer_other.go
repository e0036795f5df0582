//go:build !unix

package telnyx

import (
	"net"
	"syscall"
)

// rawConn returns nil: without unix write(2), every batch is written in the
// background.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (w *writer) rawWrite(uintptr) bool { return true }
