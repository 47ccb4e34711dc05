//go:build unix

package netcode

import "syscall"

// tickSupported: the tick read path needs non-blocking reads and writes on
// a socket's file descriptor.
const tickSupported = true

const (
	shutWR   = syscall.SHUT_WR
	shutRDWR = syscall.SHUT_RDWR
)

func sysRead(fd uintptr, b []byte) (int, error)  { return syscall.Read(int(fd), b) }
func sysWrite(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
func sysShutdown(fd uintptr, how int) error      { return syscall.Shutdown(int(fd), how) }
func sysSetNonblock(fd int, on bool) error       { return syscall.SetNonblock(fd, on) }
func sysClose(fd int) error                      { return syscall.Close(fd) }
