//go:build !unix

package netcode

import "errors"

// tickSupported: elsewhere every socket takes the loop read path.
const tickSupported = false

const (
	shutWR   = 1
	shutRDWR = 2
)

var errNoTick = errors.New("netcode: the tick read path needs a unix system")

func sysRead(uintptr, []byte) (int, error)  { return 0, errNoTick }
func sysWrite(uintptr, []byte) (int, error) { return 0, errNoTick }
func sysShutdown(uintptr, int) error        { return errNoTick }
func sysSetNonblock(int, bool) error        { return errNoTick }
func sysClose(int) error                    { return errNoTick }
