package ptrace

// SuspendSeccomp (PTRACE_O_SUSPEND_SECCOMP): the tracee's seccomp filters
// are not run while it is traced, so that injected syscalls pass an app's
// own filter. Needs CAP_SYS_ADMIN in the initial user namespace, and a
// tracer without seccomp filters of its own.
const SuspendSeccomp Options = 0x200000

const (
	ptraceSeccompGetFilter   = 0x420c
	ptraceSeccompGetMetadata = 0x420d
)

// SeccompFilter returns the index'th seccomp filter of a stopped tracee
// (0: the oldest, as the kernel counts filter_off) as raw struct sock_filter instructions
// (8 bytes each), and its flags (SECCOMP_FILTER_FLAG_LOG is the only one
// the kernel keeps). PTRACE_SECCOMP_GET_FILTER: needs CAP_SYS_ADMIN.
func (t *Tracer) SeccompFilter(tid, index int) (prog []byte, flags uint64, err error) {
	const op = "PTRACE_SECCOMP_GET_FILTER"
	err = t.do(func() error {
		if _, err := t.getStopped(tid, op); err != nil {
			return err
		}
		n, err := ptraceSeccompFilter(tid, index, nil)
		if err != nil {
			return opErr(tid, op, err)
		}
		prog = make([]byte, 8*n)
		if _, err := ptraceSeccompFilter(tid, index, prog); err != nil {
			return opErr(tid, op, err)
		}
		if flags, err = ptraceSeccompFlags(tid, index); err != nil {
			return opErr(tid, "PTRACE_SECCOMP_GET_METADATA", err)
		}
		return nil
	})
	return prog, flags, err
}
