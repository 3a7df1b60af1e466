package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
)

// IdleCPU measures the CPU an idle client uses (this process and the
// client's Postgres backends, in % of one core) over d while one execution
// waits for an event that never comes: the cost of polls, heartbeats, leases
// and elections. Linux only (it reads /proc); the process figure includes
// whatever else the calling process does meanwhile.
func IdleCPU(ctx context.Context, pool *pgxpool.Pool, d time.Duration) (process, backends float64, err error) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return 0, 0, errors.New("idle CPU needs /proc")
	}
	app := "aiflow_idle_" + strconv.Itoa(os.Getpid())
	pc := pool.Config()
	pc.ConnConfig.RuntimeParams["application_name"] = app
	own, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return 0, 0, err
	}
	defer own.Close()
	st, closeStore, err := openStore(ctx, own, nil)
	if err != nil {
		return 0, 0, err
	}
	defer closeStore()
	wf := aiflow.NewWorkflow("idle")
	keepRunning(wf)
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	if _, err := startExecutions(ctx, st, client, "idle", 1); err != nil {
		return 0, 0, err
	}
	time.Sleep(2 * time.Second) // the measurement is of the idle state
	pgCPU := func() (float64, error) {
		rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
		if err != nil {
			return 0, err
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		total := 0.0
		for _, pid := range pids {
			total += procCPU(strconv.Itoa(int(pid)))
		}
		return total, err
	}
	self0 := procCPU("self")
	pg0, err := pgCPU()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(d)
	pg1, err := pgCPU()
	if err != nil {
		return 0, 0, err
	}
	wall := time.Since(t0).Seconds()
	return 100 * (procCPU("self") - self0) / wall, 100 * (pg1 - pg0) / wall, nil
}

// procCPU returns the user+system CPU seconds of /proc/<pid>.
func procCPU(pid string) float64 {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}
