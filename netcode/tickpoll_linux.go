package netcode

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// canDetach: on Linux a seated tick-path socket leaves Go's poller
// (tickConn.detach), and the rare blocking waits use ppoll.
const canDetach = true

const (
	pollIn  = 0x1
	pollOut = 0x4
)

type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// waitFd blocks the calling thread until fd is ready for events, has hung
// up or failed, or deadline passes (os.ErrDeadlineExceeded).
func waitFd(fd int, events int16, deadline time.Time) error {
	for {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		ts := syscall.NsecToTimespec(int64(d))
		p := pollFd{fd: int32(fd), events: events}
		n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return e
		case n == 1:
			return nil // ready, or hung up: the next read or write says which
		}
	}
}

// dupCloexec duplicates fd with close-on-exec set.
func dupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
