package postgres

// LoseWorkers makes this store's workers act, for every attempt they run
// now, as if their process had died (kill -9): for tests of what happens to
// a task whose worker is lost. The attempts' leases are no longer renewed
// and nothing their bodies return is recorded; their bodies are not told (a
// dead process could not tell them). Once a lease has expired, the reaper
// of the elected leader (this process or another) ends the attempt as
// store.WorkerLost decides and cancels its job. The workers go on taking new
// attempts, as a process started in place of the dead one would. It returns
// how many attempts it abandoned.
func (s *Store) LoseWorkers() int {
	w := s.workers
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for id, a := range w.running {
		a.abandoned = true
		delete(w.running, id)
		n++
	}
	return n
}
