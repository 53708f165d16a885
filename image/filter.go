package image

import "fmt"

// SockFilter is a socket's classic BPF filter (SO_ATTACH_FILTER), as
// SO_GET_FILTER gives it back, and whether it is locked (SO_LOCK_FILTER).
// An eBPF filter (SO_ATTACH_BPF) cannot be read back: the trap table
// refuses it.
type SockFilter struct {
	// Insns are the instructions, struct sock_filter (8 bytes each) one
	// after the other; none: only the lock.
	Insns  []byte `json:"insns,omitempty"`
	Locked bool   `json:"locked,omitempty"`
}

// Validate checks the program's shape (the kernel checks the rest when
// the restore attaches it).
func (f *SockFilter) Validate() error {
	if len(f.Insns)%8 != 0 || len(f.Insns)/8 > 4096 {
		return fmt.Errorf("socket filter of %d bytes", len(f.Insns))
	}
	return nil
}
