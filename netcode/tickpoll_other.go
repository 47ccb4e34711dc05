//go:build !linux

package netcode

import (
	"errors"
	"time"
)

// canDetach: elsewhere a seated tick-path socket stays in Go's poller.
const canDetach = false

const (
	pollIn  = 0x1
	pollOut = 0x4
)

var errNoPoll = errors.New("netcode: no ppoll on this system")

func waitFd(int, int16, time.Time) error { return errNoPoll }

func dupCloexec(int) (int, error) { return -1, errNoPoll }
