package tests

import (
	"testing"
	"time"
)

// TestTreeKinds: one of each kind of state the tree engine saves (zombies,
// sessions, groups, socketpair bytes, memfd with seals mapped by two
// processes, shared anonymous memory, timerfd in epoll, signalfd, eventfd,
// POSIX timers with their ids, a FIFO's buffered bytes, shared offsets,
// O_NONBLOCK), checkpointed at a random moment; the victim checks each.
func TestTreeKinds(t *testing.T) {
	t.Parallel()
	for _, exit := range []bool{true, false} {
		t.Run(map[bool]string{true: "exit", false: "kill"}[exit], func(t *testing.T) {
			treeRoundTrip(t, treeVictim{
				name: "kinds",
				argv: func(t *testing.T, dir string) []string { return []string{treeCompile(t, "kinds"), dir} },
				lo:   50 * time.Millisecond, hi: 2500 * time.Millisecond, exitMode: exit, minProcs: 5,
			})
		})
	}
}
