// Package inventory is the list of every kind of process state crrun knows,
// and the observer that makes restores verify themselves.
//
// For each kind (Kinds, kinds.go) one entry says, in one place, how the state
// is saved, how it is restored, which fields the verifier compares, and when a
// checkpoint refuses it. docs/nocr.md's state table is generated from the list
// (TestDocsKinds keeps them in step).
//
// The observer (Tree.Observe) reads what the kernel shows of a process from
// outside — /proc/PID/{status,stat,limits,personality,oom_score_adj,...},
// every task's status, fdinfo and the fd's inode, smaps — and flattens it
// into fields ("creds.uid", "fd 3 flags", "map 7f00…-7f10… vmflags").
// Numbers that are not the app's own (host pids, inode numbers, mount ids)
// are normalised: pids to the app's namespace, inodes to the order in which
// they first appear in the tree (so the *sharing* is compared, not the
// numbers). The checkpoint observes every live process once the tree is
// saved and stores the fields in the image (image.Process.Inventory); the
// restore observes the rebuilt tree the same way after its last step and
// before any of it runs, and Compare lists every difference. One difference
// refuses the restore: the tree is killed, naming the process, the field, and
// the saved and restored values.
//
// To add a kind of state: save and restore it in checkpoint/ and restore/,
// add its Kind here with the fields it is compared by, and a refusal for
// what restore cannot reproduce — one change.
package inventory
