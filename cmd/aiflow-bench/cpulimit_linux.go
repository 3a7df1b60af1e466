package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cpuPeriodMicros is the scheduling period of a cpuLimit: within each, the
// processes of the group run for at most their share of it.
const cpuPeriodMicros = 100_000

// cpuLimit is a control group of its own (cgroup v2 with its cpu controller,
// else cgroup v1's cpu hierarchy) that holds processes to a share of the
// machine's CPU. The scaling measurement gives each worker process one, the
// budget of a replica on a machine of its own, since on a machine of few
// cores the processes otherwise share the same cores (with Postgres) and
// cannot add capacity. Creating one needs Linux and the right to write the
// hierarchy (root).
type cpuLimit struct {
	dir   string
	cores float64
}

// newCPULimit makes the control group name, limited to cores of CPU (0.25:
// a quarter of one core).
func newCPULimit(name string, cores float64) (*cpuLimit, error) {
	if cores <= 0 || cores > 1024 {
		return nil, fmt.Errorf("CPU limit %g: expected a positive number of cores, such as 0.25", cores)
	}
	quota := strconv.Itoa(max(1000, int(cores*cpuPeriodMicros)))
	period := strconv.Itoa(cpuPeriodMicros)
	v2, v1, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var files [][2]string
	var dir string
	switch {
	case v2 != "":
		// The cpu controller must be enabled for the children of the root
		// group; it may be already.
		_ = os.WriteFile(filepath.Join(v2, "cgroup.subtree_control"), []byte("+cpu"), 0)
		dir = filepath.Join(v2, name)
		files = [][2]string{{"cpu.max", quota + " " + period}}
	case v1 != "":
		dir = filepath.Join(v1, name)
		files = [][2]string{{"cpu.cfs_period_us", period}, {"cpu.cfs_quota_us", quota}}
	default:
		return nil, errors.New("no cgroup hierarchy with the cpu controller is mounted")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the control group %s (needs root): %w", dir, err)
	}
	l := &cpuLimit{dir: dir, cores: cores}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0); err != nil {
			return nil, errors.Join(fmt.Errorf("setting %s of %s to %q: %w", f[0], dir, f[1], err), l.remove())
		}
	}
	return l, nil
}

// add moves the process pid (all its threads) into the group.
func (l *cpuLimit) add(pid int) error {
	if err := os.WriteFile(filepath.Join(l.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("moving process %d into the control group %s: %w", pid, l.dir, err)
	}
	return nil
}

// remove deletes the group; its processes must have exited.
func (l *cpuLimit) remove() error {
	if err := os.Remove(l.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the control group %s: %w", l.dir, err)
	}
	return nil
}

// cgroupMounts returns where cgroup v2 is mounted with the cpu controller
// available, and where cgroup v1's cpu hierarchy is mounted ("" for
// neither), from /proc/self/mountinfo.
func cgroupMounts() (v2, v1 string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 35 98:0 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu"
		before, after, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pre, post := strings.Fields(before), strings.Fields(after)
		if len(pre) < 5 || len(post) < 3 {
			continue
		}
		at := pre[4]
		switch post[0] {
		case "cgroup2":
			controllers, err := os.ReadFile(filepath.Join(at, "cgroup.controllers"))
			if err == nil && slices.Contains(strings.Fields(string(controllers)), "cpu") && v2 == "" {
				v2 = at
			}
		case "cgroup":
			if slices.Contains(strings.Split(post[2], ","), "cpu") && v1 == "" {
				v1 = at
			}
		}
	}
	return v2, v1, sc.Err()
}
