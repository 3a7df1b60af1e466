//go:build !linux

package main

import "errors"

// cpuLimit holds processes to a share of the machine's CPU; only Linux has
// one (cpulimit_linux.go).
type cpuLimit struct{}

func newCPULimit(string, float64) (*cpuLimit, error) {
	return nil, errors.New("limiting a process's CPU needs Linux control groups")
}

func (*cpuLimit) add(int) error { return nil }

func (*cpuLimit) remove() error { return nil }
