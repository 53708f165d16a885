package supervisor

import "sync"

// policySetters remembers the processes (tgids) that set a thread's NUMA
// policy other than the default (set_mempolicy) or an area's (mbind): the
// checkpoint asks those processes' threads, or reads their numa_maps
// (checkpoint/mempolicy.go). A probe that sets a policy and resets it
// (hwloc in every Open MPI rank) is no refusal: the checkpoint reads
// what is set now.
type policySetters struct {
	mu      sync.Mutex
	threads map[int]bool
	areas   map[int]bool
}

func (p *policySetters) record(tgid int, mbind bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := &p.threads
	if mbind {
		m = &p.areas
	}
	if *m == nil {
		*m = map[int]bool{}
	}
	(*m)[tgid] = true
}

// lookup says whether process tgid set a thread policy, or an area's.
func (p *policySetters) lookup(tgid int) (threads, areas bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.threads[tgid], p.areas[tgid]
}
