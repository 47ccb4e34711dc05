package testkit

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

// Chromium returns the Chromium binary the browser tests drive through
// playwright-core (RP_CHROMIUM, or Debian's), installing Debian's package
// when it is missing and the test runs as root (as CI does; Playwright's
// own browser downloads are not used). It skips the test, saying why, only
// when Chromium truly cannot be had.
func Chromium(t testing.TB) string {
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
			if len(out) > 2000 {
				out = out[len(out)-2000:]
			}
			t.Skipf("chromium could not be installed (apt-get %v: %v):\n%s", args, err, out)
		}
	}
	if p := findChromium(); p != "" {
		return p
	}
	t.Skip("apt-get installed chromium but no binary was found at " + chromiumPaths[0])
	return ""
}
