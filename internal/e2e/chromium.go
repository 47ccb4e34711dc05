package e2e

import (
	"os"
	"os/exec"
	"testing"
)

// chromiumPaths are where Debian and Ubuntu put Chromium.
var chromiumPaths = []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"}

func findChromium() string {
	if p := os.Getenv("RP_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range chromiumPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// ensureChromium returns the Chromium binary, installing Debian's package
// when it is missing and the test runs as root (CI does). Playwright's own
// browser downloads are not used. It skips the test, saying why, only when
// Chromium truly cannot be had.
func ensureChromium(t *testing.T) string {
	t.Helper()
	if p := findChromium(); p != "" {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("chromium is not installed and this user cannot install it: run `apt-get install -y chromium` as root")
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		t.Skip("chromium is not installed and there is no apt-get to install it")
	}
	t.Log("installing chromium (apt-get install -y chromium)")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.Command(apt, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("chromium could not be installed (apt-get %v: %v):\n%s", args, err, tail(out, 2000))
		}
	}
	if p := findChromium(); p != "" {
		return p
	}
	t.Skip("apt-get installed chromium but no binary was found at " + chromiumPaths[0])
	return ""
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
