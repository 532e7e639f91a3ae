package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirPrefix names the embedded server's data directories; the pid in the
// name lets a later run remove directories of test processes that are gone.
const dirPrefix = "pmtest-ferretdb-"

// newDataDir makes a data directory for this process's embedded server,
// after removing those of processes that are gone.
func newDataDir() (string, error) {
	removeStaleDirs()
	return os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
}

// removeStaleDirs deletes data directories left by test processes that exited
// without Main (the usual case: go test ends the process after the tests).
// Only directories whose process is gone are touched, since packages are
// tested in parallel processes.
func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), dirPrefix)
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(m)
		}
	}
}
