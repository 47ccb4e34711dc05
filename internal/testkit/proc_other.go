//go:build !linux

package testkit

import "os/exec"

// dieWithParent is a no-op where the platform has no parent-death signal.
func dieWithParent(*exec.Cmd) {}
