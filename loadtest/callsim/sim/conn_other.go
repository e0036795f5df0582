//go:build !linux

package sim

import "syscall"

// slowSocket leaves the socket as it is: slow callers only read slowly.
func slowSocket(_, _ string, _ syscall.RawConn) error { return nil }
