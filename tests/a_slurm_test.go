package tests

// TestSlurm lives in a file whose name sorts first: `go test` starts the
// parallel tests, once the sequential ones are done, roughly in the order
// they are declared, and TestSlurm mostly waits (for Slurm's time limits,
// requeues and preemptions: about three minutes), so starting it first
// lets it wait while the others work. Its scenarios are in slurm_test.go.

import (
	"sync"
	"testing"
)

// TestSlurm runs the scenarios side by side.
func TestSlurm(t *testing.T) {
	// Parallel with the others (it mostly waits for Slurm): its MPI job
	// runs beside TestMPIRing's, which needs every app under crrun to have
	// pids of its own (TestMPIConcurrentJobs).
	c := requireSlurm(t)
	t.Parallel()
	scenarios := []struct {
		name string
		run  func(*testing.T, *slurmCluster)
	}{
		{"TimeLimit", slurmTimeLimit},
		{"Preempt", func(t *testing.T, c *slurmCluster) { slurmPreemptTest(t, c, "low", "cr-pre", "none", false) }},
		{"PreemptSignal", func(t *testing.T, c *slurmCluster) { slurmPreemptTest(t, c, "low", "cr-pres", "B:USR1@20", false) }},
		{"PreemptGrace", func(t *testing.T, c *slurmCluster) { slurmPreemptTest(t, c, "lowgrace", "cr-preg", "B:USR1@20", true) }},
		{"ScancelUSR1", slurmScancelUSR1},
		{"User", slurmUser},
		{"MPI", slurmMPI},
	}
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(sc.name, func(t *testing.T) { sc.run(t, c) })
		}()
	}
	wg.Wait()
}
