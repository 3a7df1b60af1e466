package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCPULimitHoldsAProcessToItsShare puts a busy process into a cpuLimit
// of a fifth of a core and checks that it is in the group and used no more
// than its share over a second and a half (a third more allowed for the
// clock's ticks). It skips where control groups cannot be written (not
// root): the scaling measurement then runs its workers unlimited and says
// so.
func TestCPULimitHoldsAProcessToItsShare(t *testing.T) {
	const cores = 0.2
	l, err := newCPULimit(fmt.Sprintf("aiflow-bench-test-%d", os.Getpid()), cores)
	if err != nil {
		t.Skipf("SKIPPED: no control group can be made here, so the scaling measurement runs its workers without a CPU limit: %v", err)
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		require.NoError(t, l.remove())
		_, err := os.Stat(l.dir)
		require.ErrorIs(t, err, os.ErrNotExist, "the control group is removed")
	})
	require.NoError(t, l.add(cmd.Process.Pid))
	groups, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cgroup")
	require.NoError(t, err)
	require.Contains(t, string(groups), "/"+filepath.Base(l.dir), "the process is in the group")

	pid := strconv.Itoa(cmd.Process.Pid)
	cpu0, wall0 := procCPU(pid), time.Now()
	<-time.After(1500 * time.Millisecond) // the window the share is measured over
	used, wall := procCPU(pid)-cpu0, time.Since(wall0).Seconds()
	t.Logf("the busy process used %.2f s of CPU in %.2f s", used, wall)
	require.LessOrEqual(t, used/wall, cores*4/3, "used %.2f s of CPU in %.2f s, limited to %g of a core", used, wall, cores)
}

// TestCPULimitRejectsAShareThatIsNotOne checks the error names the value
// and the expected form.
func TestCPULimitRejectsAShareThatIsNotOne(t *testing.T) {
	for _, cores := range []float64{0, -1, 2000} {
		_, err := newCPULimit("aiflow-bench-never", cores)
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), strconv.FormatFloat(cores, 'g', -1, 64)) && strings.Contains(err.Error(), "expected a positive number of cores"), err.Error())
	}
}
