package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/inventory"

	"golang.org/x/sys/unix"
)

// Per-process and per-thread attributes (checkpoint/attrs.go saves them):
// each is set only where the restored process does not have it already,
// then read back through the kernel; a value that cannot be set, or reads
// back different, fails the restore naming it.

const (
	prSetThpDisable = 41
	prGetThpDisable = 42
	prSetTimerslack = 29
	prGetTimerslack = 30
	prSetSecurebits = 28
	prGetSecurebits = 27
	prSetDumpable   = 4
	prGetDumpable   = 3

	secbitNoSetuidFixup = 1 << 2
	capLastCap          = 40 // CAP_CHECKPOINT_RESTORE, the last one of Linux 6.18

	schedOther = 0
	schedBatch = 3
)

// attrs restores the process's oom_score_adj, THP setting, membarrier
// registrations and loginuid (each thread's scheduling attributes and timer
// slack are set with its state: threadState). It runs before the
// credentials change: some need privileges the restorer has and the app may
// not.
func (r *restorer) attrs() error {
	a := r.p.Attrs
	if a == nil {
		return nil
	}
	path := fmt.Sprintf("/proc/%d/oom_score_adj", r.pid)
	if err := os.WriteFile(path, []byte(strconv.Itoa(a.OomScoreAdj)), 0); err != nil {
		cur, _ := os.ReadFile(path)
		return fmt.Errorf("oom_score_adj %d cannot be set (it would be %s): %w (lowering it needs CAP_SYS_RESOURCE)", a.OomScoreAdj, strings.TrimSpace(string(cur)), err)
	}
	if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(a.OomScoreAdj) {
		return fmt.Errorf("oom_score_adj reads %q after restore, saved %d (%v)", strings.TrimSpace(string(b)), a.OomScoreAdj, err)
	}
	if cur, err := r.inj(r.pid, "prctl(PR_GET_THP_DISABLE)", unix.SYS_PRCTL, prGetThpDisable, 0, 0, 0, 0); err != nil {
		return err
	} else if int(cur) != a.THPDisable {
		on, flags := uint64(0), uint64(0)
		if a.THPDisable != 0 {
			on, flags = 1, uint64(a.THPDisable&^1)
		}
		if _, err := r.inj(r.pid, "prctl(PR_SET_THP_DISABLE)", unix.SYS_PRCTL, prSetThpDisable, on, flags, 0, 0); err != nil {
			return err
		}
		if cur, err := r.inj(r.pid, "prctl(PR_GET_THP_DISABLE)", unix.SYS_PRCTL, prGetThpDisable, 0, 0, 0, 0); err != nil || int(cur) != a.THPDisable {
			return fmt.Errorf("THP disable is %d after restore, saved %d (%v)", cur, a.THPDisable, err)
		}
	}
	for bit := 0; bit < 16; bit++ {
		if a.Membarrier&(1<<bit) == 0 {
			continue
		}
		if _, err := r.inj(r.pid, fmt.Sprintf("membarrier(register %#x)", 1<<bit), unix.SYS_MEMBARRIER, 1<<bit, 0, 0); err != nil {
			return err
		}
	}
	if a.Membarrier != 0 {
		if got, err := r.inj(r.pid, "membarrier(GET_REGISTRATIONS)", unix.SYS_MEMBARRIER, 1<<9, 0, 0); err != nil || int(got) != a.Membarrier {
			return fmt.Errorf("membarrier registrations are %#x after restore, saved %#x (%v)", got, a.Membarrier, err)
		}
	}
	if a.LoginUID != nil {
		// Every thread was cloned from the main thread (or from a thread
		// cloned from it) with the loginuid the main thread has now, and
		// nothing has written one since: when the main thread's is as
		// saved, so is every thread's (read once, not 1,000 times).
		want := strconv.FormatUint(uint64(*a.LoginUID), 10)
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/loginuid", r.pid, r.pid)); err == nil && strings.TrimSpace(string(b)) == want {
			return nil
		}
		for _, th := range r.p.Threads {
			if err := r.loginuid(r.tids[th.TID], th.TID, *a.LoginUID); err != nil {
				return err
			}
		}
	}
	return nil
}

// loginuid gives thread tid the saved audit login uid: writing
// /proc/thread-self/loginuid needs CAP_AUDIT_CONTROL once one is set.
func (r *restorer) loginuid(tid, nstid int, want uint32) error {
	path := fmt.Sprintf("/proc/%d/task/%d/loginuid", r.pid, tid)
	read := func() string {
		b, _ := os.ReadFile(path)
		return strings.TrimSpace(string(b))
	}
	ws := strconv.FormatUint(uint64(want), 10)
	cur := read()
	if cur == ws {
		return nil
	}
	r.reset()
	pa, err := r.putString("/proc/thread-self/loginuid")
	if err != nil {
		return err
	}
	va, err := r.put([]byte(ws))
	if err != nil {
		return err
	}
	fd, err := r.inj(tid, "open(/proc/thread-self/loginuid)", unix.SYS_OPENAT, atFdcwd, pa, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("thread %d: loginuid %s cannot be set here (the restored process would have %s): %w", nstid, ws, cur, err)
	}
	_, werr := r.inj(tid, "write(loginuid)", unix.SYS_WRITE, fd, va, uint64(len(ws)))
	if _, err := r.inj(tid, "close(loginuid)", unix.SYS_CLOSE, fd); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("thread %d: loginuid %s cannot be set here (the restored process would have %s; setting it needs CAP_AUDIT_CONTROL): %w", nstid, ws, cur, werr)
	}
	if got := read(); got != ws {
		return fmt.Errorf("thread %d: loginuid is %s after restore, saved %s", nstid, got, ws)
	}
	return nil
}

// affinityWant says whether a thread's saved affinity (a.Affinity) is
// set, and the affinity the thread must then have. A thread whose affinity
// was its environment's (image.Meta.EnvAffinity: it never chose one, or
// chose all it was given) keeps the restore's environment's, which it
// inherited: a batch job requeued onto other cores, or another node, runs
// in its new allocation, as it would have started there (setting the old
// cores would fail outside them). A thread that had set another is given
// it exactly, or the restore fails naming it.
func (r *restorer) affinityWant(a *image.ThreadAttrs) (set bool, want []image.Hex) {
	env := r.t.req.Image.Meta().EnvAffinity
	if len(env) > 0 && len(r.t.envAffinity) > 0 && slices.Equal(a.Affinity, env) {
		return false, r.t.envAffinity
	}
	return true, a.Affinity
}

// expectAffinity gives the verifier, for every thread that keeps its
// environment's affinity (affinityWant), the restore's environment's CPU
// list as the one to find, in a copy of want.
func (r *restorer) expectAffinity(want inventory.Fields) inventory.Fields {
	var out inventory.Fields
	for _, th := range r.p.Threads {
		if th.Attrs == nil {
			continue
		}
		set, aff := r.affinityWant(th.Attrs)
		k := fmt.Sprintf("thread %d Cpus_allowed_list", th.TID)
		if _, ok := want[k]; set || !ok {
			continue
		}
		if out == nil {
			out = maps.Clone(want)
		}
		out[k] = image.CPUList(aff)
	}
	if out == nil {
		return want
	}
	return out
}

// threadAttrCalls are the calls that set one thread's timer slack,
// scheduling policy, nice and priority, and CPU affinity unless it keeps
// the environment's (as the thread itself would); the last reads the
// timer slack back.
func threadAttrCalls(st *stage, nstid int, a *image.ThreadAttrs, setAffinity bool) []call {
	// Timer slack first: a real-time policy forces it to 0.
	calls := []call{sys("prctl(PR_SET_TIMERSLACK)", unix.SYS_PRCTL, prSetTimerslack, a.TimerSlackNS, 0, 0, 0)}
	attr := func(policy int, flags uint64, nice, prio int) []byte {
		b := make([]byte, 56)
		le := binary.LittleEndian
		le.PutUint32(b[0:], 56)
		le.PutUint32(b[4:], uint32(policy))
		le.PutUint64(b[8:], flags)
		le.PutUint32(b[16:], uint32(int32(nice)))
		le.PutUint32(b[20:], uint32(prio))
		le.PutUint32(b[52:], 1024) // util_max: ignored without SCHED_FLAG_UTIL_CLAMP
		return b
	}
	steps := [][]byte{attr(a.Policy, a.Flags, a.Nice, a.Priority)}
	if a.Policy != schedOther && a.Policy != schedBatch {
		// Real-time and idle policies ignore sched_nice: set the nice
		// value under SCHED_OTHER first.
		steps = append([][]byte{attr(0, 0, a.Nice, 0)}, steps...)
	}
	for _, b := range steps {
		c := sys("sched_setattr", unix.SYS_SCHED_SETATTR, 0, st.put(b), 0)
		c.wrap = func(err error) error {
			return fmt.Errorf("thread %d: scheduling policy %d nice %d priority %d cannot be set here: %w", nstid, a.Policy, a.Nice, a.Priority, err)
		}
		calls = append(calls, c)
	}
	if setAffinity && len(a.Affinity) > 0 {
		var mask []byte
		for _, w := range a.Affinity {
			mask = binary.LittleEndian.AppendUint64(mask, uint64(w))
		}
		c := sys("sched_setaffinity", unix.SYS_SCHED_SETAFFINITY, 0, uint64(len(mask)), st.put(mask))
		c.wrap = func(err error) error {
			return fmt.Errorf("thread %d: CPU affinity %s cannot be set here: %w", nstid, affinityString(a.Affinity), err)
		}
		calls = append(calls, c)
	}
	// The I/O priority, always: the thread may have inherited crrun's.
	c := sys("ioprio_set", unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uint64(a.IOPrio))
	c.wrap = func(err error) error {
		return fmt.Errorf("thread %d: I/O priority class %d level %d cannot be set here: %w", nstid, a.IOPrio>>13, a.IOPrio&0x1fff, err)
	}
	calls = append(calls, c)
	return append(calls, sys("prctl(PR_GET_TIMERSLACK)", unix.SYS_PRCTL, prGetTimerslack, 0, 0, 0, 0))
}

// ioprioWhoProcess is IOPRIO_WHO_PROCESS: one thread (0: the caller).
const ioprioWhoProcess = 1

// threadAttrReads are the calls that read a thread's scheduling (into
// attr, 56 bytes), nice (getpriority's raw 20 - nice), I/O priority and
// affinity (into mask, if the image has one) back, at the end of its
// batch: the thread reads its own, no syscall of the tracer's per thread.
func threadAttrReads(a *image.ThreadAttrs, attr, mask uint64) []call {
	calls := []call{sys("sched_getattr", unix.SYS_SCHED_GETATTR, 0, attr, 56, 0),
		sys("getpriority", unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0),
		sys("ioprio_get", unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0)}
	if len(a.Affinity) > 0 {
		calls = append(calls, sys("sched_getaffinity", unix.SYS_SCHED_GETAFFINITY, 0, affinityBytes, mask))
	}
	return calls
}

// affinityBytes is the size of the mask sched_getaffinity reads (1,024 CPUs,
// as unix.CPUSet).
const affinityBytes = 128

// compareThreadAttrs compares what a thread read back (sched_getattr's
// struct, getpriority's raw value, ioprio_get's, the affinity mask) and its timer slack
// with the image; the affinity with affinity (affinityWant).
func compareThreadAttrs(nstid int, a *image.ThreadAttrs, affinity []image.Hex, got []byte, prio, iop int, mask []byte, slack uint64) error {
	le := binary.LittleEndian
	gp, gf, gpr := int(le.Uint32(got[4:])), le.Uint64(got[8:]), int(le.Uint32(got[20:]))
	gn := 20 - prio
	if gp != a.Policy || gf != a.Flags || gn != a.Nice || gpr != a.Priority {
		return fmt.Errorf("thread %d: scheduling is policy %d flags %#x nice %d priority %d after restore, saved policy %d flags %#x nice %d priority %d",
			nstid, gp, gf, gn, gpr, a.Policy, a.Flags, a.Nice, a.Priority)
	}
	if len(a.Affinity) > 0 {
		var set []uint64
		for i := 0; i+8 <= len(mask); i += 8 {
			set = append(set, le.Uint64(mask[i:]))
		}
		var now []image.Hex
		n := len(set)
		for n > 1 && set[n-1] == 0 {
			n--
		}
		for _, w := range set[:n] {
			now = append(now, image.Hex(w))
		}
		if !slices.Equal(now, affinity) {
			return fmt.Errorf("thread %d: CPU affinity is %s after restore, want %s (saved %s; CPUs missing on this host, or outside its cpuset)",
				nstid, affinityString(now), affinityString(affinity), affinityString(a.Affinity))
		}
	}
	if slack != a.TimerSlackNS {
		return fmt.Errorf("thread %d: timer slack is %d ns after restore, saved %d ns", nstid, slack, a.TimerSlackNS)
	}
	if iop != a.IOPrio {
		return fmt.Errorf("thread %d: I/O priority is %#x after restore, saved %#x", nstid, iop, a.IOPrio)
	}
	return nil
}

func affinityString(ws []image.Hex) string {
	var cpus []string
	for i, w := range ws {
		for b := 0; b < 64; b++ {
			if uint64(w)&(1<<b) != 0 {
				cpus = append(cpus, strconv.Itoa(64*i+b))
			}
		}
	}
	return "{" + strings.Join(cpus, ",") + "}"
}

// creds gives every thread the saved credentials, last: the stub may have
// had more (root's restore has every capability; an ordinary user's keeps
// CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE and CAP_SETPCAP in the user
// namespace as ambient capabilities until here, for clone3 with set_tid).
// Credentials are per thread. In each: the bounding set (drops need
// CAP_SETPCAP), groups and gids, the uids (with SECBIT_NO_SETUID_FIXUP, so
// that the capabilities survive a change away from uid 0), the inheritable
// set and the ambient capabilities raised from it, the securebits, and the
// saved capability sets. What is already as saved is left alone, so an
// ordinary user's restore (which may not setgroups or change ids) succeeds
// exactly when the image's ids are the user's; otherwise it fails naming
// the ids.
func (r *restorer) creds() error {
	// Every thread has the credentials and securebits its process's main
	// thread had when it was cloned, the restorer's: nothing has changed
	// them since. They are read once, from the main thread.
	sb, err := r.inj(r.pid, "prctl(PR_GET_SECUREBITS)", unix.SYS_PRCTL, prGetSecurebits, 0, 0, 0, 0)
	if err != nil {
		return err
	}
	cur, err := procfs.TaskStatus(r.pid, r.pid)
	if err != nil {
		return err
	}
	cs := make([]*threadCreds, len(r.p.Threads))
	build := func(i int, st *stage) (job, bool, error) {
		th := &r.p.Threads[i]
		c := r.p.Creds
		if th.Creds != nil {
			c = *th.Creds
		}
		tc := &threadCreds{tid: r.tids[th.TID], nstid: th.TID, c: c, full: r.p.Attrs != nil, sb: uint32(sb), cur: cur}
		cs[i] = tc
		if tc.same() {
			return job{}, true, nil // nothing its batch would change: checked below
		}
		calls, err := tc.calls(st)
		if err != nil {
			return job{}, false, fmt.Errorf("thread %d: %w", th.TID, err)
		}
		return job{tid: tc.tid, calls: calls}, false, nil
	}
	check := func(i int, b *ptrace.Batch, _ *stage) error {
		tc := cs[i]
		if !tc.full {
			return nil
		}
		got := uint32(b.Ret[len(b.Ret)-1]) // PR_GET_SECUREBITS, the last call
		if err := r.checkCreds(tc.tid, tc.c, got); err != nil {
			return fmt.Errorf("thread %d: %w", tc.nstid, err)
		}
		return nil
	}
	if err := r.perThread(len(r.p.Threads), build, check); err != nil {
		return err
	}
	// A thread that got no batch has what the main thread had when it was
	// read above (same() compared exactly that): its check is against
	// that reading, not a status read per thread (the verifier reads
	// every thread's ids and capabilities back all the same).
	for _, tc := range cs {
		if tc.full && tc.same() {
			if err := compareCreds(cur, tc.c, tc.sb); err != nil {
				return fmt.Errorf("thread %d: %w", tc.nstid, err)
			}
		}
	}
	return nil
}

// same reports whether the thread has the saved credentials already (root
// restoring a root app's thread): every call of its batch would leave them
// as they are (ids and groups equal, no bounding-set drop, ambient set
// cleared and raised to what it is, capset to what it is, securebits
// equal), so it gets no batch, only the read-back.
func (tc *threadCreds) same() bool {
	c, cur := tc.c, tc.cur
	caps := cur.CapInh == uint64(c.CapInheritable) && cur.CapPrm == uint64(c.CapPermitted) &&
		cur.CapEff == uint64(c.CapEffective) && cur.CapAmb == uint64(c.CapAmbient)
	if !tc.full {
		return caps
	}
	fullSet := uint64(c.CapBounding) == 1<<(capLastCap+1)-1
	bnd := cur.CapBnd == uint64(c.CapBounding) || fullSet // a full saved set keeps the restorer's (calls)
	return caps && bnd && tc.sb == c.Securebits && slices.Equal(cur.Groups, c.Groups) &&
		cur.Uid.Real == c.UID && cur.Uid.Effective == c.EUID && cur.Uid.Saved == c.SUID && cur.Uid.FS == c.FSUID &&
		cur.Gid.Real == c.GID && cur.Gid.Effective == c.EGID && cur.Gid.Saved == c.SGID && cur.Gid.FS == c.FSGID
}

// threadCreds is one thread's credentials to set.
type threadCreds struct {
	tid, nstid int
	c          image.Credentials
	cur        *procfs.ProcStatus // as the thread has them now
	full       bool               // the image has every field (not an image of an older crrun, which restored only the capabilities)
	sb         uint32             // securebits after the first batch
}

// calls returns the calls that set the thread's credentials, in this order:
// bounding set, groups, gids, uids, ambient capabilities, securebits,
// capability sets, then PR_GET_SECUREBITS for the check.
func (tc *threadCreds) calls(st *stage) ([]call, error) {
	c, cur := tc.c, tc.cur
	var calls []call
	add := func(cl call, wrap func(error) error) {
		cl.wrap = func(err error) error {
			if wrap != nil {
				err = wrap(err)
			}
			return fmt.Errorf("thread %d: %w", tc.nstid, err)
		}
		calls = append(calls, cl)
	}
	getSB := sys("prctl(PR_GET_SECUREBITS)", unix.SYS_PRCTL, prGetSecurebits, 0, 0, 0, 0)
	uidsDiffer := cur.Uid.Real != c.UID || cur.Uid.Effective != c.EUID || cur.Uid.Saved != c.SUID || cur.Uid.FS != c.FSUID
	if tc.full {
		// A full bounding set is no choice of the app's (a user
		// namespace's is always full): restored where the restorer's
		// is not (root restoring a user's image in a container), it
		// keeps the restorer's.
		full := uint64(c.CapBounding) == 1<<(capLastCap+1)-1
		if c.CapBounding&^image.Hex(cur.CapBnd) != 0 && !full {
			return nil, fmt.Errorf("the app's capability bounding set %#x has capabilities %#x the restorer's lacks: they cannot be raised",
				uint64(c.CapBounding), uint64(c.CapBounding)&^cur.CapBnd)
		}
		for cp := 0; cp <= capLastCap; cp++ {
			if cur.CapBnd&(1<<cp) != 0 && uint64(c.CapBounding)&(1<<cp) == 0 {
				add(sys(fmt.Sprintf("prctl(PR_CAPBSET_DROP, %d)", cp), unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uint64(cp), 0, 0, 0), func(err error) error {
					return fmt.Errorf("drop capability %d from the bounding set: %w (needs CAP_SETPCAP)", cp, err)
				})
			}
		}
		if !slices.Equal(cur.Groups, c.Groups) {
			var b []byte
			for _, g := range c.Groups {
				b = binary.LittleEndian.AppendUint32(b, g)
			}
			ga := uint64(0)
			if len(b) > 0 {
				ga = st.put(b)
			}
			add(sys("setgroups", unix.SYS_SETGROUPS, uint64(len(c.Groups)), ga), func(err error) error {
				return fmt.Errorf("the app had supplementary groups %v, the restored process would have %v: setgroups: %w (only root, outside a user namespace, may set them)", c.Groups, cur.Groups, err)
			})
		}
		if cur.Gid.Real != c.GID || cur.Gid.Effective != c.EGID || cur.Gid.Saved != c.SGID {
			add(sys("setresgid", unix.SYS_SETRESGID, uint64(c.GID), uint64(c.EGID), uint64(c.SGID)), func(err error) error {
				return fmt.Errorf("the app ran with gids %d/%d/%d, the restorer has %d/%d/%d: setresgid: %w (restore it as that user, or as root)",
					c.GID, c.EGID, c.SGID, cur.Gid.Real, cur.Gid.Effective, cur.Gid.Saved, err)
			})
		}
		add(sys("setfsgid", unix.SYS_SETFSGID, uint64(c.FSGID)), nil)
	}
	sb := tc.sb
	if tc.full && uidsDiffer {
		uidErr := func(what string) func(error) error {
			return func(err error) error {
				return fmt.Errorf("the app ran with uids %d/%d/%d, the restorer has %d/%d/%d: %s%w (restore it as that user, or as root)",
					c.UID, c.EUID, c.SUID, cur.Uid.Real, cur.Uid.Effective, cur.Uid.Saved, what, err)
			}
		}
		if sb&secbitNoSetuidFixup == 0 {
			// Keep the capabilities across a change away from uid 0.
			sb |= secbitNoSetuidFixup
			add(sys("prctl(PR_SET_SECUREBITS, NO_SETUID_FIXUP)", unix.SYS_PRCTL, prSetSecurebits, uint64(sb), 0, 0, 0), uidErr(""))
		}
		add(sys("setresuid", unix.SYS_SETRESUID, uint64(c.UID), uint64(c.EUID), uint64(c.SUID)), uidErr("setresuid: "))
		add(sys("setfsuid", unix.SYS_SETFSUID, uint64(c.FSUID)), nil)
	}
	capset := func(eff, prm, inh uint64) call {
		hdr := st.put(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, unix.LINUX_CAPABILITY_VERSION_3), 0))
		var data []byte
		for _, half := range []int{0, 32} { // struct __user_cap_data_struct[2]: effective, permitted, inheritable
			for _, v := range []uint64{eff, prm, inh} {
				data = binary.LittleEndian.AppendUint32(data, uint32(v>>half))
			}
		}
		return sys("capset", unix.SYS_CAPSET, hdr, st.put(data))
	}
	add(sys("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), nil)
	if c.CapAmbient != 0 {
		// Ambient capabilities are raised from permitted ∩ inheritable.
		add(capset(cur.CapEff, cur.CapPrm, uint64(c.CapInheritable)), func(err error) error {
			return fmt.Errorf("set the inheritable set %#x: %w", uint64(c.CapInheritable), err)
		})
		for cp := 0; cp <= capLastCap; cp++ {
			if uint64(c.CapAmbient)&(1<<cp) == 0 {
				continue
			}
			add(sys(fmt.Sprintf("prctl(PR_CAP_AMBIENT_RAISE, %d)", cp), unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uint64(cp), 0, 0), func(err error) error {
				return fmt.Errorf("raise ambient capability %d: %w (the restorer lacks it)", cp, err)
			})
		}
	}
	if tc.full && sb != c.Securebits {
		add(sys("prctl(PR_SET_SECUREBITS)", unix.SYS_PRCTL, prSetSecurebits, uint64(c.Securebits), 0, 0, 0), func(err error) error {
			return fmt.Errorf("securebits %#x (the restored process has %#x): %w (needs CAP_SETPCAP)", c.Securebits, sb, err)
		})
	}
	add(capset(uint64(c.CapEffective), uint64(c.CapPermitted), uint64(c.CapInheritable)), func(err error) error {
		return fmt.Errorf("set the saved capabilities (eff %s prm %s inh %s): %w", c.CapEffective, c.CapPermitted, c.CapInheritable, err)
	})
	add(getSB, nil)
	return calls, nil
}

// dumpable sets the saved dumpable flag (a change of effective uid has
// reset it to fs.suid_dumpable), after the verification: an ordinary
// user's verifier could not read the /proc files of a process that is not
// dumpable.
func (r *restorer) dumpable() error {
	a := r.p.Attrs
	if a == nil {
		return nil
	}
	if _, err := r.inj(r.pid, "prctl(PR_SET_DUMPABLE)", unix.SYS_PRCTL, prSetDumpable, uint64(a.Dumpable), 0, 0, 0); err != nil {
		return err
	}
	if got, err := r.inj(r.pid, "prctl(PR_GET_DUMPABLE)", unix.SYS_PRCTL, prGetDumpable, 0, 0, 0, 0); err != nil || int(got) != a.Dumpable {
		return fmt.Errorf("dumpable is %d after restore, saved %d (%v)", got, a.Dumpable, err)
	}
	return nil
}

// checkCreds reads a thread's credentials back and compares them with c;
// sb is the securebits the thread read after they were set.
func (r *restorer) checkCreds(tid int, c image.Credentials, sb uint32) error {
	now, err := procfs.TaskStatus(r.pid, tid)
	if err != nil {
		return err
	}
	return compareCreds(now, c, sb)
}

// compareCreds compares a thread's status (ids, groups, capabilities,
// no_new_privs) and securebits with the saved credentials.
func compareCreds(now *procfs.ProcStatus, c image.Credentials, sb uint32) error {
	var diffs []string
	diff := func(what string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s %v (saved %v)", what, got, want))
		}
	}
	diff("uids", []uint32{now.Uid.Real, now.Uid.Effective, now.Uid.Saved, now.Uid.FS}, []uint32{c.UID, c.EUID, c.SUID, c.FSUID})
	diff("gids", []uint32{now.Gid.Real, now.Gid.Effective, now.Gid.Saved, now.Gid.FS}, []uint32{c.GID, c.EGID, c.SGID, c.FSGID})
	if !slices.Equal(now.Groups, c.Groups) && !(len(now.Groups) == 0 && len(c.Groups) == 0) {
		diffs = append(diffs, fmt.Sprintf("groups %v (saved %v)", now.Groups, c.Groups))
	}
	diff("CapInh", image.Hex(now.CapInh), c.CapInheritable)
	diff("CapPrm", image.Hex(now.CapPrm), c.CapPermitted)
	diff("CapEff", image.Hex(now.CapEff), c.CapEffective)
	if uint64(c.CapBounding) != 1<<(capLastCap+1)-1 { // a full set is kept as the restorer's (threadCreds)
		diff("CapBnd", image.Hex(now.CapBnd), c.CapBounding)
	}
	diff("CapAmb", image.Hex(now.CapAmb), c.CapAmbient)
	diff("NoNewPrivs", now.NoNewPrivs, c.NoNewPrivs)
	diff("securebits", sb, c.Securebits)
	if len(diffs) > 0 {
		return fmt.Errorf("credentials differ after restore: %s", strings.Join(diffs, ", "))
	}
	return nil
}

// stops puts back in group-stop each process that was stopped (job
// control, SIGSTOP), before its pending signals are queued again and while
// its parent is still blank of signals: the stop signal is sent, every
// thread is resumed with its instruction pointer on the scratch area's
// int3 (so that, should the signal not stop it, no instruction of the app
// runs: the restore fails instead) and reaches its group-stop trap. The
// parent is notified as at the original stop; the SIGCHLD it gets is
// consumed (the original one was delivered or is in the saved pending
// set), and a stop it had already seen with wait(WUNTRACED) is consumed
// again by an injected waitid, so that it does not see it twice.
func (t *treeRestorer) stops() error {
	for _, p := range t.procs {
		if p.Zombie != nil || p.Attrs == nil || p.Attrs.Stop == nil {
			continue
		}
		r := t.by[p.PID]
		if err := r.stop(p.Attrs.Stop); err != nil {
			return fmt.Errorf("pid %d: stop it again: %w", p.PID, err)
		}
		parent := t.by[p.PPID]
		if parent == nil || parent.p.Zombie != nil {
			continue
		}
		if p.Attrs.Stop.Reported {
			parent.reset()
			buf, err := parent.put(make([]byte, 128))
			if err != nil {
				return err
			}
			const wallFlag = 0x40000000 // __WALL
			if _, err := parent.inj(parent.pid, fmt.Sprintf("waitid(P_PID %d, WSTOPPED)", p.PID), unix.SYS_WAITID, unix.P_PID, uint64(p.PID), buf,
				unix.WSTOPPED|unix.WNOHANG|wallFlag, 0); err != nil {
				return fmt.Errorf("pid %d: parent %d: %w", p.PID, p.PPID, err)
			}
			b := make([]byte, 24)
			if err := ptrace.ReadMem(parent.pid, uintptr(buf), b); err != nil {
				return err
			}
			if got := int32(binary.LittleEndian.Uint32(b[16:])); got != int32(p.PID) {
				return fmt.Errorf("pid %d: its parent %d's waitid did not find its stop (si_pid %d)", p.PID, p.PPID, got)
			}
		}
		if err := parent.consumeSignal(int(unix.SIGCHLD)); err != nil {
			return fmt.Errorf("pid %d: parent %d: %w", p.PID, p.PPID, err)
		}
	}
	return nil
}

func (r *restorer) stop(gs *image.GroupStop) error {
	sig := unix.Signal(gs.Signal)
	if sig != unix.SIGSTOP && sig != unix.SIGTSTP && sig != unix.SIGTTIN && sig != unix.SIGTTOU {
		return fmt.Errorf("stop signal %d is not one", gs.Signal)
	}
	saved := map[int]ptrace.Regs{}
	for _, th := range r.p.Threads {
		tid := r.tids[th.TID]
		regs, err := r.tr.GetRegs(tid)
		if err != nil {
			return err
		}
		saved[tid] = regs
		trap := regs
		trap.Rip = r.scratch + 2 // the int3 after the syscall instruction
		if err := r.tr.SetRegs(tid, trap); err != nil {
			return err
		}
	}
	if err := unix.Kill(r.pid, sig); err != nil {
		return fmt.Errorf("kill(%v): %w", sig, err)
	}
	// The main thread alone runs first: it dequeues the signal and starts
	// the group stop; the others then join it from their own traps.
	threads := append([]image.Thread(nil), r.p.Threads...)
	slices.SortStableFunc(threads, func(a, b image.Thread) int {
		if a.TID == r.p.PID {
			return -1
		}
		if b.TID == r.p.PID {
			return 1
		}
		return 0
	})
	deadline := time.Now().Add(5 * time.Second)
	for _, th := range threads {
		tid := r.tids[th.TID]
		if err := r.tr.Cont(tid, 0); err != nil {
			return err
		}
		for {
			if time.Now().After(deadline) {
				return fmt.Errorf("thread %d does not reach its group stop", th.TID)
			}
			st, err := r.tr.Wait(tid)
			if err != nil {
				return err
			}
			if st.Kind == ptrace.StopGroup {
				break
			}
			switch {
			case st.Kind == ptrace.StopSignal && st.Signal == sig:
				if err := r.tr.Cont(tid, sig); err != nil {
					return err
				}
			case st.Kind == ptrace.StopSignal && st.Signal == unix.SIGTRAP:
				return fmt.Errorf("thread %d: %v did not stop it (discarded: an orphaned process group?)", th.TID, sig)
			case st.Kind == ptrace.StopInterrupt:
				if err := r.tr.Cont(tid, 0); err != nil {
					return err
				}
			default:
				return fmt.Errorf("thread %d: unexpected %v on the way to its group stop", th.TID, st)
			}
		}
	}
	for tid, regs := range saved {
		if err := r.tr.SetRegs(tid, regs); err != nil {
			return err
		}
	}
	return nil
}

// waitStopped waits until the released process pid (host) shows state T
// (stopped) in /proc/PID/stat.
func waitStopped(pid int) error {
	var last byte
	for i := 0; i < 200; i++ {
		st, err := procfs.Stat(pid)
		if err != nil {
			return err
		}
		if last = st.State; last == 'T' {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("state " + string(last) + " after release, not T (stopped)")
}

// restoreOptions are the ptrace options every restored task has (the
// stub's, supervisor/restore.go, inherited through clone).
const restoreOptions = ptrace.TraceExec | ptrace.TraceClone | ptrace.TraceFork | ptrace.ExitKill

// seccompFilters installs the app's own seccomp filters again in each
// thread, oldest first, on top of crrun's NOCR filter (the app installed
// them after it): the very last injections but the scratch area's unmap,
// with the thread's filters suspended (PTRACE_O_SUSPEND_SECCOMP, root
// only) from the first one on, so that they block none of those.
func (r *restorer) seccompFilters() error {
	for _, th := range r.p.Threads {
		if len(th.Seccomp) == 0 {
			continue
		}
		tid := r.tids[th.TID]
		if err := r.tr.SetOptions(tid, restoreOptions|ptrace.SuspendSeccomp); err != nil {
			return fmt.Errorf("thread %d: suspend its seccomp filters while restoring them: %w (needs root)", th.TID, err)
		}
		before, err := procfs.TaskStatus(r.pid, tid)
		if err != nil {
			return err
		}
		for i, f := range th.Seccomp {
			if len(f.Prog) == 0 || len(f.Prog)%8 != 0 {
				return fmt.Errorf("thread %d: seccomp filter %d has %d bytes, not whole instructions", th.TID, i, len(f.Prog))
			}
			r.reset()
			pa, err := r.put(f.Prog)
			if err != nil {
				return err
			}
			fa, err := r.put(le64(uint64(len(f.Prog)/8), pa)) // struct sock_fprog
			if err != nil {
				return err
			}
			const flagLog = 2 // SECCOMP_FILTER_FLAG_LOG
			if _, err := r.inj(tid, fmt.Sprintf("seccomp(SET_MODE_FILTER) #%d", i), unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.Flags&flagLog, fa); err != nil {
				return fmt.Errorf("thread %d: %w", th.TID, err)
			}
		}
		after, err := procfs.TaskStatus(r.pid, tid)
		if err != nil {
			return err
		}
		if after.SeccompFilters != before.SeccompFilters+len(th.Seccomp) {
			return fmt.Errorf("thread %d has %d seccomp filters after restore, want %d", th.TID, after.SeccompFilters, before.SeccompFilters+len(th.Seccomp))
		}
	}
	return nil
}
