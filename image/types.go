package image

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// The content of an image: what the checkpoint engine saves and the restore
// engine reads back. Each type is JSON-encoded, indented, into one of the
// metadata files (see doc.go).
//
// Compatibility rules (docs/image-format.md, "Versioning"): fields are only
// ever added, with `omitempty` where a zero value is a sensible default, so an
// image written by an older crrun still decodes; readers ignore fields they do
// not know. A new field whose absence would make an older restore silently
// wrong must come with a required feature name (Writer.RequireFeature) or a
// format version bump, so that older readers refuse the image instead.
//
// PIDs: every pid and tid in an image is the one inside the program's PID
// namespace — the number the program itself sees and restore recreates
// exactly. Numbers seen from outside (by the supervisor) are informational
// only (NSPID).

// Meta is image.json: what the checkpoint is of, and when and why it was
// taken. The manifest repeats Created, Reason, Trigger and CrrunVersion so
// that generations can be listed without reading this file.
type Meta struct {
	// Created is when the checkpoint was taken (the program was frozen).
	// The writer fills it with the current time if it is zero.
	Created time.Time `json:"created"`
	// Reason says why, for people: "SIGUSR1 from pid 4242", "timer (every 1h)",
	// "crrun checkpoint".
	Reason string `json:"reason"`
	// Trigger is the machine-readable kind of Reason.
	Trigger Trigger `json:"trigger,omitempty"`
	// CrrunVersion is the version string of the crrun that wrote the image.
	CrrunVersion string `json:"crrun_version"`
	// Argv is the command line crrun was asked to run.
	Argv []string `json:"argv"`
	// Hostname is the machine the checkpoint was taken on (informational).
	Hostname string `json:"hostname,omitempty"`
	// Host identifies the machine and boot the checkpoint was taken on:
	// restore compares device, inode and ctime of files only on the same
	// one (elsewhere those numbers differ for the same file).
	Host *Host `json:"host,omitempty"`
	// Kernel identifies the kernel the checkpoint was taken on.
	Kernel Kernel `json:"kernel"`
	// CPU identifies the processor the checkpoint was taken on: a restore
	// refuses a CPU without an instruction-set extension this one had
	// (restore/cpu.go). Absent from images of older crruns.
	CPU *CPU `json:"cpu,omitempty"`
	// EnvAffinity is the CPU affinity the app's environment gave it (crrun's
	// init's, which every app process inherited at its start), as
	// ThreadAttrs.Affinity. A thread whose affinity equals it never chose
	// its own: a restore leaves it the affinity of the restore's
	// environment (a batch job requeued onto other cores or another node
	// runs in its new allocation), where a thread that set another has it
	// set again exactly (restore/attrs.go). Absent: every thread's is set.
	EnvAffinity []Hex `json:"env_affinity,omitempty"`
	// VDSO identifies the [vdso] the program had mapped. Restore refuses an
	// image whose vdso differs from the one of the running kernel: the
	// program's saved return addresses and function pointers point into it.
	VDSO VDSO `json:"vdso"`
	// Root is the pid of the program's main process (the one crrun started).
	Root int `json:"root"`
	// MainExit, when set, says the main process had exited (and been reaped
	// by crrun's init) while others of the app ran on (a daemon, `cmd &`):
	// Root is then not in Processes, and the restored crrun mirrors this
	// status once the rest of the app has ended, as the original would have.
	// Images with it require the feature "main-exited".
	MainExit *MainExit `json:"main_exit,omitempty"`
	// TtyFg is the process group (in the app's namespace) that had the
	// foreground of crrun's terminal at the checkpoint, when one of the
	// app's had it (a shell inside the app running a job); the restored
	// crrun gives the terminal to it rather than to the main process's.
	TtyFg int `json:"tty_fg,omitempty"`
	// Terminal is crrun's terminal (the first of its stdin, stdout and
	// stderr that is one) as the app had left it at the checkpoint: its
	// mode, which a restore on a terminal sets again and reads back, and
	// its size, which the restore compares with the new terminal's
	// (SIGWINCH to the app where it differs). Images with it require the
	// feature "terminal".
	Terminal *Terminal `json:"terminal,omitempty"`
	// Processes lists every saved process, parents before children; each
	// has a proc-<pid>.json file. crrun's own init (pid 1 of the namespace)
	// is not part of the image.
	Processes []int `json:"processes"`
	// UserNamespace is the uid/gid mapping of the user namespace the program
	// ran in, when crrun created one.
	UserNamespace *UserNamespace `json:"user_namespace,omitempty"`
	// Clocks are the app's clocks as it saw them at the checkpoint, read
	// once the tree was frozen and every timer of it saved. A restore makes
	// the app's CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from these values,
	// whichever host it runs on (a time namespace with offsets; required
	// feature "clocks"). Nil in images of older crruns.
	Clocks *Clocks `json:"clocks,omitempty"`
	// Net is the app's network: "" the host's, "private" a network
	// namespace of its own with only a loopback (--net=private), which a
	// restore creates again (required feature "net-private").
	Net string `json:"net,omitempty"`
	// PingGroupRange is net.ipv4.ping_group_range of the app's own
	// network namespace (Net "private") when it is not a new namespace's
	// "1 0" (the app, root there, set it): a restore sets it again in the
	// new namespace (required feature "ping-sockets"). "" otherwise.
	PingGroupRange string `json:"ping_group_range,omitempty"`
	// IPC is the app's IPC namespace (SysV objects): nil in images of
	// older crruns, whose apps shared the host's. Images whose app had a
	// private one require the feature "ipc-private".
	IPC *IPC `json:"ipc,omitempty"`
}

// IPC modes of Meta.IPC.
const (
	IPCPrivate = "private" // the app's own IPC namespace (crrun's default)
	IPCHost    = "host"    // the host's (--ipc=host): SysV objects are refused
)

// IPC is the app's IPC namespace and, when private, what was in it: the
// SysV objects with their ids, keys, owners and modes, and the
// namespace's tunables. Contents live in blobs: a segment's bytes
// (SysVShm.Blob), a queue's message texts back to back (SysVMsg.Blob).
type IPC struct {
	Mode string `json:"mode"` // IPCPrivate or IPCHost
	// Sysctls are the namespace's kernel/{shmmax,shmall,shmmni,
	// shm_rmid_forced,msgmax,msgmnb,msgmni,auto_msgmni,sem} and
	// fs/mqueue/* values as read, by their path under /proc/sys (restore
	// writes those that differ from a new namespace's).
	Sysctls map[string]string `json:"sysctls,omitempty"`
	Shm     []SysVShm         `json:"shm,omitempty"`
	Sem     []SysVSem         `json:"sem,omitempty"`
	Msg     []SysVMsg         `json:"msg,omitempty"`
	// Mqueues are the namespace's POSIX message queues (its mqueue file
	// system), by name.
	Mqueues []Mqueue `json:"mqueues,omitempty"`
}

// Mqueue is a POSIX message queue: its name (without the leading "/"),
// mode, owner, limits, and its messages in the order a receiver gets them
// (highest priority first, oldest first within one); the texts back to
// back in Blob.
type Mqueue struct {
	Name     string          `json:"name"`
	Mode     Octal           `json:"mode"`
	UID      uint32          `json:"uid"`
	GID      uint32          `json:"gid"`
	MaxMsg   int64           `json:"maxmsg"`
	MsgSize  int64           `json:"msgsize"`
	Messages []MqueueMessage `json:"messages,omitempty"`
	Blob     string          `json:"blob,omitempty"`
	SHA256   string          `json:"sha256,omitempty"`
}

// MqueueMessage is one queued message: its priority and size.
type MqueueMessage struct {
	Prio uint32 `json:"prio"`
	Size int    `json:"size"`
}

// SysVPerm is an object's ipc_perm: its key, id, owner, creator and mode
// (the low 9 bits; SysVShm.Mode keeps SHM_DEST and SHM_LOCKED too).
type SysVPerm struct {
	ID   int    `json:"id"`
	Key  int32  `json:"key"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	CUID uint32 `json:"cuid"`
	CGID uint32 `json:"cgid"`
	Mode Octal  `json:"mode"`
}

// SysVShm is a shared memory segment. Removed (IPC_RMID while attached:
// mode SHM_DEST, key 0) is restored as a segment created with
// CreateKey, attached where it was, and removed again.
type SysVShm struct {
	SysVPerm
	Size uint64 `json:"size"`
	// CreateKey is the key the segment was created with (the "/SYSVkkkkkkkk"
	// name its mappings show); Key is 0 once it is removed.
	CreateKey int32 `json:"create_key"`
	// Nattch is how many attachments the app had (shm_nattch).
	Nattch int    `json:"nattch"`
	Blob   string `json:"blob"`
	SHA256 string `json:"sha256"`
}

// SysVSem is a semaphore set with its values.
type SysVSem struct {
	SysVPerm
	Values []uint16 `json:"values"`
}

// SemAdj is one semaphore's adjustment in a process's undo list: what
// its exit adds to the value (semadj: minus the sum of its SEM_UNDO
// operations on it since the value was last set).
type SemAdj struct {
	SemID int `json:"semid"`
	Num   int `json:"num"`
	Adj   int `json:"adj"`
}

// SysVMsg is a message queue with its messages, oldest first.
type SysVMsg struct {
	SysVPerm
	QBytes   uint64        `json:"qbytes"`
	Messages []SysVMessage `json:"messages,omitempty"`
	Blob     string        `json:"blob,omitempty"` // the texts back to back
	SHA256   string        `json:"sha256,omitempty"`
}

// SysVMessage is one queued message: its type and the size of its text.
type SysVMessage struct {
	Type int64 `json:"type"`
	Size int   `json:"size"`
}

// Clocks are clock readings taken together, in nanoseconds since each
// clock's epoch.
type Clocks struct {
	Monotonic int64 `json:"monotonic_ns"` // CLOCK_MONOTONIC, as the app saw it
	Boottime  int64 `json:"boottime_ns"`  // CLOCK_BOOTTIME, as the app saw it
	Realtime  int64 `json:"realtime_ns"`  // CLOCK_REALTIME (the host's: no namespace shifts it)
	// TimeNS is true when the app ran in a time namespace of crrun's; false
	// on a kernel without time namespaces (the app saw the host's clocks).
	TimeNS bool `json:"time_ns,omitempty"`
}

// MainExit is how the main process ended: exit code, or the signal that
// killed it.
type MainExit struct {
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
}

// Trigger says what made crrun take a checkpoint.
type Trigger string

// Known triggers. Readers must accept others (informational only).
const (
	TriggerSignal  Trigger = "signal"  // a signal sent to the supervisor
	TriggerTimer   Trigger = "timer"   // the periodic checkpoint timer
	TriggerCommand Trigger = "command" // `crrun checkpoint` or the control socket
	TriggerExit    Trigger = "exit"    // before the supervisor gives up the program (time limit, preemption)
)

// Kernel identifies a kernel, as uname(2) reports it.
type Kernel struct {
	Release string `json:"release"`           // "6.18.0-1-amd64"
	Version string `json:"version,omitempty"` // "#1 SMP PREEMPT_DYNAMIC Debian 6.18.1-1"
	Machine string `json:"machine,omitempty"` // "x86_64"
}

// Host identifies a machine and one boot of it.
type Host struct {
	MachineID string `json:"machine_id,omitempty"` // /etc/machine-id
	BootID    string `json:"boot_id,omitempty"`    // /proc/sys/kernel/random/boot_id
}

// HashLimit is the size up to which a regular file's content is hashed
// (FileIdentity.SHA256); the executable is hashed whatever its size.
const HashLimit = 1 << 20

// VDSO identifies the contents of a [vdso] mapping.
type VDSO struct {
	Size   uint64 `json:"size"`
	SHA256 string `json:"sha256"` // hex SHA-256 of the mapping's bytes
}

// UserNamespace holds the id mappings of a user namespace (uid_map, gid_map).
type UserNamespace struct {
	UIDMap []IDMap `json:"uid_map"`
	GIDMap []IDMap `json:"gid_map"`
}

// IDMap is one line of /proc/PID/uid_map or gid_map.
type IDMap struct {
	Inside  uint32 `json:"inside"`
	Outside uint32 `json:"outside"`
	Count   uint32 `json:"count"`
}

// Process is proc-<pid>.json: everything saved about one process except the
// contents of its memory, which are in its page file and indexed by
// pagemap.json (see PageExtent).
type Process struct {
	PID  int `json:"pid"`  // in the program's PID namespace: the key used everywhere
	PPID int `json:"ppid"` // 1 for children of crrun's init (reparented orphans included)
	PGID int `json:"pgid"`
	SID  int `json:"sid"`
	// NSPID is the NSpid line of /proc/PID/status as the supervisor saw it,
	// outermost namespace first (informational: the host pid is NSPID[0]).
	NSPID []int  `json:"nspid,omitempty"`
	Comm  string `json:"comm"`
	// Exe identifies /proc/PID/exe. Restore execs the same binary and checks
	// that its identity still matches.
	Exe FileIdentity `json:"exe"`

	Cwd string `json:"cwd"`
	// CwdFile is set when the working directory was deleted (Cwd ends in
	// " (deleted)"): restore recreates it (FileIdentity.Unlinked).
	CwdFile *FileIdentity `json:"cwd_file,omitempty"`
	Root    string        `json:"root,omitempty"` // /proc/PID/root if not "/"
	Umask   Octal         `json:"umask"`
	// Personality is the personality(2) word (ADDR_NO_RANDOMIZE = 0x0040000 …).
	Personality Hex         `json:"personality"`
	Creds       Credentials `json:"creds"`
	Rlimits     []Rlimit    `json:"rlimits"`
	Itimers     Itimers     `json:"itimers"`
	// ParentDeathSignal is prctl(PR_GET_PDEATHSIG); 0 if none.
	ParentDeathSignal int `json:"pdeath_signal,omitempty"`
	// ExitSignal is the signal the parent gets when this process ends
	// (/proc/PID/stat field 38): SIGCHLD for fork(), something else (or 0)
	// for clone() children, which wait() only reports with __WCLONE.
	ExitSignal int `json:"exit_signal,omitempty"`
	// Zombie is set for a process that had exited but was not reaped yet:
	// restore recreates it and lets it exit again with the same status, so
	// its parent's wait() still gets it. Such a process has no threads,
	// memory or fds in the image.
	Zombie *Zombie `json:"zombie,omitempty"`
	// Ctty is set on a session leader whose controlling terminal is a pty
	// the app created.
	Ctty *Ctty `json:"ctty,omitempty"`
	// ChildSubreaper is prctl(PR_GET_CHILD_SUBREAPER).
	ChildSubreaper bool `json:"child_subreaper,omitempty"`
	// Attrs are per-process attributes saved and restored exactly
	// (checkpoint/attrs.go, restore/attrs.go); nil in images of older
	// crrun versions. Images that carry them require the "proc-attrs"
	// feature.
	Attrs *ProcAttrs `json:"attrs,omitempty"`
	// MlockallFlags are the MCL_* flags of an mlockall(2) in force (from
	// VmFlags "lo" of new mappings, or the mm's def_flags); 0 if none.
	MlockallFlags int `json:"mlockall_flags,omitempty"`
	// SemUndo is the process's SysV semaphore undo list (semop with
	// SEM_UNDO): the adjustment each semaphore gets when the process ends,
	// non-zero ones only, by set id and number (checkpoint/semundo.go).
	// Images that carry one require the feature "sem-undo".
	SemUndo []SemAdj `json:"sem_undo,omitempty"`

	// SigHandlers has 64 entries: entry i is signal i+1.
	SigHandlers []SigAction `json:"sig_handlers"`
	// SharedPending are the process-wide pending signals
	// (PTRACE_PEEKSIGINFO_SHARED), oldest first.
	SharedPending []SigInfo `json:"shared_pending,omitempty"`

	// PosixTimers are the timer_create(2) timers, recreated with their ids.
	PosixTimers []PosixTimer `json:"posix_timers,omitempty"`

	// Inventory is what the kernel showed of the process at checkpoint
	// time, as fields (package inventory): a restore reads the restored
	// process the same way before it runs and refuses any difference.
	// Absent in images of older crruns (not verified then).
	Inventory map[string]string `json:"inventory,omitempty"`

	MM      MM       `json:"mm"`
	Memory  []VMA    `json:"memory"` // sorted by Start, not overlapping
	FDs     []FD     `json:"fds"`    // sorted by FD
	Threads []Thread `json:"threads"`
}

// PosixTimer is one timer_create(2) timer (/proc/PID/timers and an
// injected timer_gettime).
type PosixTimer struct {
	ID       int32 `json:"id"`
	Clock    int   `json:"clockid"`
	Signal   int   `json:"signal"`
	SigValue Hex   `json:"sigev_value"`
	// Notify is SIGEV_SIGNAL (0), SIGEV_NONE (1), with SIGEV_THREAD_ID (4)
	// added when one thread (TID) is notified.
	Notify     int   `json:"sigev_notify"`
	TID        int   `json:"tid,omitempty"`
	ValueNS    int64 `json:"value_ns"` // time left (0: disarmed)
	IntervalNS int64 `json:"interval_ns"`
}

// Zombie is the exit of a process not yet reaped.
type Zombie struct {
	// Status is the wait status its parent will read (/proc/PID/stat field
	// 52): exit code << 8, or the signal number (| 0x80 with a core dump).
	Status int `json:"status"`
}

// FileIdentity says which file something refers to, so restore can check it
// is still the same file (same device and inode, or at least the same size
// and modification time on another machine).
type FileIdentity struct {
	Path  string    `json:"path"` // as the program saw it (readlink, maps)
	Dev   Dev       `json:"dev"`
	Inode uint64    `json:"inode"`
	Size  int64     `json:"size"`
	Mtime time.Time `json:"mtime"`
	// Ctime is the inode's change time: it moves with every write, chmod,
	// chown or link, and unlike mtime no one can set it back. Compared on
	// the host (and boot) of the checkpoint only. Absent in older images.
	Ctime time.Time `json:"ctime,omitzero"`
	// SHA256 is the hex SHA-256 of the content of the executable and of
	// regular files up to HashLimit bytes, when crrun could read them
	// (empty otherwise: then size, mtime and ctime must do).
	SHA256 string `json:"sha256,omitempty"`
	Mode   Octal  `json:"mode,omitempty"` // st_mode, type bits included
	// Deleted is true when the file was unlinked (path ends in " (deleted)").
	// Its content is then saved in a blob named by the referring FD or VMA.
	Deleted bool `json:"deleted,omitempty"`
	// Unlinked is how restore brings a deleted object back (set with
	// Deleted by this crrun; images that have it require the
	// "deleted-files" feature).
	Unlinked *Unlinked `json:"unlinked,omitempty"`
}

// Unlinked describes a deleted file, directory, FIFO or device node an app
// held open, mapped, or had as its working directory. Restore recreates it
// (at its old path if that name is free, else in its temporary directory),
// has the app open it, gives it this owner, mode and times, and removes the
// name again; or, when the inode had other names (Handle), opens that
// same inode.
type Unlinked struct {
	Mode  Octal     `json:"mode"` // st_mode, type bits included
	UID   uint32    `json:"uid"`
	GID   uint32    `json:"gid"`
	Atime time.Time `json:"atime"`
	Mtime time.Time `json:"mtime"`
	Size  int64     `json:"size,omitempty"`
	Rdev  Dev       `json:"rdev,omitempty"` // device nodes
	// Extents are a regular file's data runs (SEEK_DATA/SEEK_HOLE), by
	// increasing offset; its blob holds them back to back, the rest of
	// its Size is holes.
	Extents []FileExtent `json:"extents,omitempty"`
	// Handle is set when the inode still had other names (st_nlink > 0
	// after the unlink): restore opens the same inode by this handle
	// (open_by_handle_at, root only) instead of recreating anything.
	Handle *FileHandle `json:"handle,omitempty"`
}

// FileExtent is one run of data of a sparse file.
type FileExtent struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// FileHandle is a name_to_handle_at(2) handle and the mount to open it at.
type FileHandle struct {
	Type       int32  `json:"type"`
	Bytes      []byte `json:"bytes"`       // JSON: base64
	MountPoint string `json:"mount_point"` // a mount of the file's filesystem, as crrun saw it
}

// Credentials of a process's main thread (a thread with others has its own,
// Thread.Creds); restore sets them last, in every thread.
type Credentials struct {
	UID    uint32   `json:"uid"`
	EUID   uint32   `json:"euid"`
	SUID   uint32   `json:"suid"`
	FSUID  uint32   `json:"fsuid"`
	GID    uint32   `json:"gid"`
	EGID   uint32   `json:"egid"`
	SGID   uint32   `json:"sgid"`
	FSGID  uint32   `json:"fsgid"`
	Groups []uint32 `json:"groups"`
	// Capability sets, as the hex masks of /proc/PID/status.
	CapInheritable Hex `json:"cap_inheritable"`
	CapPermitted   Hex `json:"cap_permitted"`
	CapEffective   Hex `json:"cap_effective"`
	CapBounding    Hex `json:"cap_bounding"`
	CapAmbient     Hex `json:"cap_ambient"`
	// Securebits is prctl(PR_GET_SECUREBITS).
	Securebits uint32 `json:"securebits,omitempty"`
	NoNewPrivs bool   `json:"no_new_privs,omitempty"`
}

// ProcAttrs are the attributes of a process that are neither memory, files
// nor signals: each is read through the kernel at checkpoint time and set
// back at restore, where it is read back and compared.
type ProcAttrs struct {
	// OomScoreAdj is /proc/PID/oom_score_adj.
	OomScoreAdj int `json:"oom_score_adj"`
	// LoginUID is /proc/PID/loginuid (4294967295: unset); nil where the
	// kernel has no audit support.
	LoginUID *uint32 `json:"loginuid,omitempty"`
	// THPDisable is prctl(PR_GET_THP_DISABLE): 0, 1, or 1|2
	// (PR_THP_DISABLE_EXCEPT_ADVISED).
	THPDisable int `json:"thp_disable,omitempty"`
	// Dumpable is prctl(PR_GET_DUMPABLE): 0 or 1.
	Dumpable int `json:"dumpable"`
	// Membarrier is membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS): the
	// MEMBARRIER_CMD_REGISTER_* commands the process issued (Linux 6.3).
	Membarrier int `json:"membarrier,omitempty"`
	// Stop is set for a process in group-stop (job control, SIGSTOP).
	Stop *GroupStop `json:"stop,omitempty"`
}

// GroupStop is how a stopped process was stopped, and whether its parent
// has already been told (wait with WUNTRACED would report it again only if
// not).
type GroupStop struct {
	Signal int `json:"signal"` // SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU
	// Reported: the parent has consumed the stop with wait(WUNTRACED)
	// (or its SIGCHLD was not for the stop); restore then must not let it
	// see the stop again.
	Reported bool `json:"reported,omitempty"`
}

// ThreadAttrs are per-thread scheduling attributes.
type ThreadAttrs struct {
	// Sched is sched_getattr(2): policy (SCHED_OTHER 0, FIFO 1, RR 2,
	// BATCH 3, IDLE 5), flags (SCHED_FLAG_RESET_ON_FORK 1), nice, RT
	// priority.
	Policy   int    `json:"policy"`
	Flags    uint64 `json:"flags,omitempty"`
	Nice     int    `json:"nice,omitempty"`
	Priority int    `json:"priority,omitempty"`
	// Affinity is sched_getaffinity(2) as 64-bit words, CPU n = bit n%64 of
	// word n/64.
	Affinity []Hex `json:"affinity"`
	// TimerSlackNS is prctl(PR_GET_TIMERSLACK).
	TimerSlackNS uint64 `json:"timer_slack_ns"`
	// IOPrio is ioprio_get(IOPRIO_WHO_PROCESS, tid): class << 13 | data,
	// 0 for none (the I/O priority follows nice). Feature "ioprio" when
	// not 0.
	IOPrio int `json:"ioprio,omitempty"`
}

// Rlimit is one resource limit (prlimit(2)). RLIM_INFINITY is 1<<64-1.
type Rlimit struct {
	Resource int    `json:"resource"` // RLIMIT_* number
	Name     string `json:"name"`     // "RLIMIT_NOFILE", informational
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// Itimers are the three interval timers of getitimer(2).
type Itimers struct {
	Real    Itimer `json:"real"`
	Virtual Itimer `json:"virtual"`
	Prof    Itimer `json:"prof"`
}

// Itimer is one interval timer; both zero when disarmed.
type Itimer struct {
	IntervalNS int64 `json:"interval_ns"`
	ValueNS    int64 `json:"value_ns"` // time left until it fires
}

// SigAction is one signal's disposition, as the kernel's struct sigaction
// (read with an injected rt_sigaction).
type SigAction struct {
	Signal   int `json:"signal"`
	Handler  Hex `json:"handler"` // 0 = SIG_DFL, 1 = SIG_IGN
	Flags    Hex `json:"flags"`   // SA_*
	Restorer Hex `json:"restorer"`
	Mask     Hex `json:"mask"` // bit n-1 = signal n
}

// SigInfo is a queued signal (PTRACE_PEEKSIGINFO).
type SigInfo struct {
	Signo int `json:"signo"`
	Code  int `json:"code"`
	// Raw is the kernel's 128-byte siginfo_t, to requeue it exactly
	// (rt_tgsigqueueinfo). JSON: base64.
	Raw []byte `json:"raw"`
}

// MM holds the memory-descriptor fields restore sets with
// prctl(PR_SET_MM, PR_SET_MM_MAP): /proc/PID/stat fields 26–28 and 45–51,
// the current brk and the auxiliary vector.
type MM struct {
	StartCode  Hex `json:"start_code"`
	EndCode    Hex `json:"end_code"`
	StartData  Hex `json:"start_data"`
	EndData    Hex `json:"end_data"`
	StartBrk   Hex `json:"start_brk"`
	Brk        Hex `json:"brk"` // current break, from an injected brk(0)
	StartStack Hex `json:"start_stack"`
	ArgStart   Hex `json:"arg_start"`
	ArgEnd     Hex `json:"arg_end"`
	EnvStart   Hex `json:"env_start"`
	EnvEnd     Hex `json:"env_end"`
	// Auxv is /proc/PID/auxv as words: type, value, …, ending with AT_NULL, 0.
	Auxv []Hex `json:"auxv"`
}

// VMA is one memory mapping (a line of /proc/PID/maps with smaps details).
// The saved contents of its pages are not here: they are the PageExtents of
// the same pid that lie inside [Start, End) (Reader.ExtentsIn). Pages without
// an extent were not present (never touched: zero for anonymous memory; for
// private file mappings, still the file's content).
type VMA struct {
	Start  Hex     `json:"start"`
	End    Hex     `json:"end"` // exclusive
	Prot   Prot    `json:"prot"`
	Shared bool    `json:"shared"` // MAP_SHARED; false = MAP_PRIVATE
	Offset Hex     `json:"offset"` // file offset of Start, for file mappings
	Kind   VMAKind `json:"kind"`
	// Path is the maps pathname: a file path, "[heap]", "[stack]",
	// "[vdso]", "/dev/zero (deleted)", or "" for anonymous memory.
	Path string `json:"path,omitempty"`
	// File identifies the mapped inode (file mappings, shared anonymous
	// memory: the same Dev and Inode in two processes means the same
	// shared memory).
	File *FileIdentity `json:"file,omitempty"`
	// Flags are the smaps VmFlags two-letter codes ("rd", "wr", "lo", "dd",
	// "gd", "hg", "nh", "mg", "wf", "dc"…), for madvise/mlock on restore.
	Flags []string `json:"flags,omitempty"`
	// Blob names the blob holding the mapped object's whole content, when
	// the object itself must be recreated (a deleted file, shared anonymous
	// memory, a memfd).
	Blob string `json:"blob,omitempty"`
	// Content names the blob holding the whole content, at the checkpoint,
	// of a file on tmpfs mapped shared (/dev/shm segments: MPI's shared
	// memory, POSIX shm_open): memory by another name, which the app may
	// have changed after the checkpoint (or which a reboot removed). The
	// restore writes it back into the file at File.Path, creating the file
	// if it is gone (required feature "tmpfs-shared"), then maps the file.
	Content string `json:"content,omitempty"`
	// Memfd is set for a mapping of a memfd ("/memfd:NAME (deleted)"):
	// restore maps the memfd itself (its fd, or one recreated from Blob
	// when the app had closed every fd of it), never a copy in a file.
	Memfd *Memfd `json:"memfd,omitempty"`
	// Inherit is set on a private anonymous mapping of a forked process
	// whose parent has the same mapping (range, kind, protection, flags)
	// and shared some of its pages with it at checkpoint time (the same
	// physical page in both, from pagemap's PFNs: root only). Restore then
	// restores the parent's memory before cloning the child, which keeps
	// the inherited mapping: the pages stay shared copy-on-write. Only the
	// child's pages that differed are in its extents; Zero lists the
	// ranges where the parent had pages and the child none (restore drops
	// them with MADV_DONTNEED). Images with it require the "cow" feature.
	Inherit *Inherit `json:"inherit,omitempty"`
	// Guards are the guard regions of a mapping showing VmFlags "gu"
	// (MADV_GUARD_INSTALL; pagemap bit 58): restore installs them again.
	Guards []Span `json:"guards,omitempty"`
	// ShmID is the segment of a VMASysV mapping (Meta.IPC.Shm).
	ShmID int `json:"shmid,omitempty"`
}

// Inherit says how a child's mapping differs from its parent's (VMA.Inherit).
type Inherit struct {
	Zero []Span `json:"zero,omitempty"`
}

// Span is a range of addresses [Start, End).
type Span struct {
	Start Hex `json:"start"`
	End   Hex `json:"end"`
}

// Size returns End-Start.
func (v *VMA) Size() uint64 { return uint64(v.End - v.Start) }

// VMAKind classifies a mapping.
type VMAKind string

// Mapping kinds. Restore must refuse a kind it does not know.
const (
	VMAAnon       VMAKind = "anon"        // private anonymous memory
	VMAFile       VMAKind = "file"        // mapping of a file (private or shared)
	VMAHeap       VMAKind = "heap"        // [heap]
	VMAStack      VMAKind = "stack"       // [stack]
	VMAShmem      VMAKind = "shmem"       // shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, /dev/zero)
	VMAVDSO       VMAKind = "vdso"        // [vdso]
	VMAVVar       VMAKind = "vvar"        // [vvar]
	VMAVVarVClock VMAKind = "vvar_vclock" // [vvar_vclock]
	VMAVSyscall   VMAKind = "vsyscall"    // [vsyscall]
	// VMASysV is an attached SysV shared memory segment ("/SYSVkkkkkkkk";
	// its inode is the shmid): restore attaches the segment of Meta.IPC
	// (shmat) where it was; its pages are the segment's (SysVShm.Blob).
	VMASysV VMAKind = "sysv_shm"
)

// Known reports whether k is one of the kinds this package defines.
func (k VMAKind) Known() bool {
	switch k {
	case VMAAnon, VMAFile, VMAHeap, VMAStack, VMAShmem, VMAVDSO, VMAVVar, VMAVVarVClock, VMAVSyscall, VMASysV:
		return true
	}
	return false
}

// FD is one open file descriptor.
type FD struct {
	FD   int    `json:"fd"`
	Kind FDKind `json:"kind"`
	// Path is readlink(/proc/PID/fd/N): a path, "pipe:[123]",
	// "anon_inode:[eventfd]"…
	Path string `json:"path"`
	// Flags are the open flags of /proc/PID/fdinfo/N ("flags:", octal).
	Flags   Octal `json:"flags"`
	Cloexec bool  `json:"cloexec"`
	// Pos is the file offset ("pos:" of fdinfo).
	Pos   int64 `json:"pos"`
	MntID int   `json:"mnt_id,omitempty"`
	// OFD names the open file description: descriptors with the same
	// non-zero OFD (in this process or another one) share one description
	// (dup, fork), hence one offset and one set of status flags. Restore
	// opens it once and duplicates it. 0 means not shared.
	OFD int `json:"ofd,omitempty"`
	// File identifies the inode for regular files, directories and devices.
	File *FileIdentity `json:"file,omitempty"`
	// Blob names the blob holding the content of a deleted file or memfd.
	Blob string `json:"blob,omitempty"`
	// Stdio, when set, says this fd was the supervisor's own stdin (0),
	// stdout (1) or stderr (2) and that file was a terminal, a pipe or a
	// socket: restore attaches the restorer's stdio of the same number
	// instead of reopening anything. A regular file or a harmless device
	// (`app < input.sql`, `app > out.log`, /dev/null) is saved as any other
	// file, by path, offset and identity.
	Stdio *int `json:"stdio,omitempty"`

	// Locks are the file locks held through this fd (the "lock:" lines of
	// its fdinfo): POSIX record locks of the holding process, and the OFD
	// locks, flock locks and leases of its description. Restore takes each
	// again before the app runs (required feature "file-locks").
	Locks []FileLock `json:"locks,omitempty"`
	// Owner is the F_SETOWN / F_SETOWN_EX owner of the description (who
	// gets SIGIO/SIGURG), nil if none; Sig is F_SETSIG (0: SIGIO).
	// Required feature "fd-owner".
	Owner *FOwner `json:"owner,omitempty"`
	Sig   int     `json:"sig,omitempty"`
	// Procfs: the file is on procfs (/proc/PID/status, /proc/meminfo):
	// reopened by path, in the app's /proc, once the process it names
	// exists; it has no size or mtime to compare.
	Procfs bool `json:"procfs,omitempty"`

	// Kind-specific state; at most one is set.
	Epoll    *Epoll    `json:"epoll,omitempty"`
	Eventfd  *Eventfd  `json:"eventfd,omitempty"`
	Pipe     *Pipe     `json:"pipe,omitempty"`
	Timerfd  *Timerfd  `json:"timerfd,omitempty"`
	Signalfd *Signalfd `json:"signalfd,omitempty"`
	Memfd    *Memfd    `json:"memfd,omitempty"`
	Socket   *Socket   `json:"socket,omitempty"`
	Pidfd    *Pidfd    `json:"pidfd,omitempty"`
	Inotify  *Inotify  `json:"inotify,omitempty"`
	Pty      *Pty      `json:"pty,omitempty"`
	Inet     *Inet     `json:"inet,omitempty"`
	Netlink  *Netlink  `json:"netlink,omitempty"`
	Packet   *Packet   `json:"packet,omitempty"`
}

// FileLock is one lock held through an fd.
type FileLock struct {
	Kind LockKind `json:"kind"`
	// Write: F_WRLCK (LOCK_EX); else F_RDLCK (LOCK_SH).
	Write bool `json:"write,omitempty"`
	// Start and End (the last byte, -1: to the end of the file, however
	// far it grows) of a POSIX or OFD lock; whole file for the others.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Pid is the process that took the lock, in the app's namespace: the
	// owner of a POSIX lock; for flock locks and leases the process
	// /proc/locks names, 0 if it is no process of the app any more.
	Pid int `json:"pid,omitempty"`
}

// LockKind is the kind of a file lock.
type LockKind string

// Lock kinds.
const (
	LockPOSIX LockKind = "posix" // fcntl(F_SETLK): owned by the process
	LockOFD   LockKind = "ofd"   // fcntl(F_OFD_SETLK): owned by the open file description
	LockFlock LockKind = "flock" // flock(2): owned by the open file description
	LockLease LockKind = "lease" // fcntl(F_SETLEASE): owned by the open file description
)

// FOwner is F_GETOWN_EX: who is signalled for I/O on a description.
type FOwner struct {
	Type int `json:"type"` // F_OWNER_TID (0), F_OWNER_PID (1), F_OWNER_PGRP (2)
	Pid  int `json:"pid"`  // a tid, pid or process group, in the app's namespace
}

// Pty is a pseudo-terminal the app created by opening /dev/ptmx. The
// master's fd carries the pair's state; a slave's fd names its master's
// Index. Restore opens a new pair (its index, the N of /dev/pts/N, may
// differ) and gives it this state. Bytes buffered in the pair at checkpoint
// time refuse the checkpoint.
type Pty struct {
	Index  int  `json:"index"` // N of /dev/pts/N at checkpoint time
	Master bool `json:"master,omitempty"`
	// On the master only:
	Locked       bool     `json:"locked,omitempty"`         // TIOCGPTLCK
	Packet       bool     `json:"packet,omitempty"`         // TIOCGPKT
	Termios      *Termios `json:"termios,omitempty"`        // the slave's (the line discipline's)
	MasterTermio *Termios `json:"master_termios,omitempty"` // the master's own
	Rows         uint16   `json:"rows,omitempty"`
	Cols         uint16   `json:"cols,omitempty"`
	Xpixel       uint16   `json:"xpixel,omitempty"`
	Ypixel       uint16   `json:"ypixel,omitempty"`
}

// Termios is struct termios (TCGETS).
type Termios struct {
	Iflag  Hex     `json:"iflag"`
	Oflag  Hex     `json:"oflag"`
	Cflag  Hex     `json:"cflag"`
	Lflag  Hex     `json:"lflag"`
	Line   uint8   `json:"line"`
	Cc     []uint8 `json:"cc"`
	Ispeed uint32  `json:"ispeed"`
	Ospeed uint32  `json:"ospeed"`
}

// TermiosOf is t as the image holds it.
func TermiosOf(t *unix.Termios) *Termios {
	return &Termios{Iflag: Hex(t.Iflag), Oflag: Hex(t.Oflag), Cflag: Hex(t.Cflag),
		Lflag: Hex(t.Lflag), Line: t.Line, Cc: append([]uint8(nil), t.Cc[:]...), Ispeed: t.Ispeed, Ospeed: t.Ospeed}
}

// Unix is t as TCSETS takes it.
func (t *Termios) Unix() *unix.Termios {
	u := &unix.Termios{Iflag: uint32(t.Iflag), Oflag: uint32(t.Oflag), Cflag: uint32(t.Cflag), Lflag: uint32(t.Lflag),
		Line: t.Line, Ispeed: t.Ispeed, Ospeed: t.Ospeed}
	copy(u.Cc[:], t.Cc)
	return u
}

// Diff names the first field in which a terminal's mode b differs from t
// ("" if none), with both values.
func (t *Termios) Diff(b *Termios) string {
	for _, f := range []struct {
		name string
		x, y Hex
	}{{"c_iflag", t.Iflag, b.Iflag}, {"c_oflag", t.Oflag, b.Oflag}, {"c_cflag", t.Cflag, b.Cflag}, {"c_lflag", t.Lflag, b.Lflag}} {
		if f.x != f.y {
			return fmt.Sprintf("%s: saved %#x, now %#x", f.name, uint64(f.x), uint64(f.y))
		}
	}
	if t.Line != b.Line {
		return fmt.Sprintf("c_line: saved %d, now %d", t.Line, b.Line)
	}
	for i := range max(len(t.Cc), len(b.Cc)) {
		var x, y uint8
		if i < len(t.Cc) {
			x = t.Cc[i]
		}
		if i < len(b.Cc) {
			y = b.Cc[i]
		}
		if x != y {
			return fmt.Sprintf("c_cc[%d]: saved %d, now %d", i, x, y)
		}
	}
	return ""
}

// Terminal is crrun's terminal as the app left it (Meta.Terminal).
type Terminal struct {
	Termios Termios `json:"termios"`
	Rows    uint16  `json:"rows"`
	Cols    uint16  `json:"cols"`
}

// Ctty is a session leader's controlling terminal when it is a pty of the
// app, and the terminal's foreground process group.
type Ctty struct {
	Pty int `json:"pty"` // Pty.Index
	Fg  int `json:"fg,omitempty"`
}

// Inotify is an inotify instance: its watches, re-added by path with the
// same watch descriptors. Events queued at checkpoint time are not kept.
type Inotify struct {
	Watches []InotifyWatch `json:"watches"` // by increasing WD
}

// InotifyWatch is one watch; Path is resolved from the kernel's file handle
// at checkpoint time.
type InotifyWatch struct {
	WD    int    `json:"wd"`
	Path  string `json:"path"`
	Mask  Hex    `json:"mask"`
	Inode uint64 `json:"inode"`
	Dev   Dev    `json:"dev"`
}

// Pidfd is a pidfd_open(2) or CLONE_PIDFD descriptor of a process of the
// app. Restore opens a new one in the holding process once every process
// exists (a pidfd has no other state than its target and O_NONBLOCK).
type Pidfd struct {
	Pid int `json:"pid"` // the target, in the app's namespace
}

// FDKind classifies a file descriptor.
type FDKind string

// File descriptor kinds. Restore must refuse a kind it does not know (or
// does not support yet); the checkpoint engine should not save one it
// cannot restore (NOCR).
const (
	FDFile     FDKind = "file"     // regular file (Deleted in File if unlinked)
	FDDir      FDKind = "dir"      // directory
	FDDevice   FDKind = "device"   // character device (/dev/null, /dev/tty …)
	FDPipe     FDKind = "pipe"     // pipe end (Pipe)
	FDFIFO     FDKind = "fifo"     // named pipe
	FDEpoll    FDKind = "epoll"    // epoll instance (Epoll)
	FDEventfd  FDKind = "eventfd"  // eventfd (Eventfd)
	FDMemfd    FDKind = "memfd"    // memfd (Memfd; content in Blob)
	FDTimerfd  FDKind = "timerfd"  // timerfd (Timerfd)
	FDSignalfd FDKind = "signalfd" // signalfd (Signalfd)
	FDUnix     FDKind = "unix"     // AF_UNIX socket of a socketpair inside the app (Socket)
	FDPidfd    FDKind = "pidfd"    // pidfd of a process of the app (Pidfd)
	FDInotify  FDKind = "inotify"  // inotify instance (Inotify)
	FDPty      FDKind = "pty"      // either side of a pty the app created (Pty)
	// FDMqueue is a POSIX message queue of the app's own IPC namespace,
	// opened again by its name (FD.Path, "/NAME"); the queue itself is in
	// Meta.IPC.Mqueues.
	FDMqueue FDKind = "mqueue"
	FDInet   FDKind = "inet" // AF_INET/AF_INET6 TCP or UDP socket (Inet)
	// FDNetlink is an AF_NETLINK socket (Netlink).
	FDNetlink FDKind = "netlink"
)

// Known reports whether k is one of the kinds this package defines.
func (k FDKind) Known() bool {
	switch k {
	case FDFile, FDDir, FDDevice, FDPipe, FDFIFO, FDEpoll, FDEventfd, FDMemfd, FDTimerfd, FDSignalfd, FDUnix, FDPidfd, FDInotify, FDPty, FDMqueue, FDInet, FDNetlink, FDRaw, FDPing, FDPacket:
		return true
	}
	return false
}

// Epoll is the interest list of an epoll instance (the "tfd:" lines of its
// fdinfo).
type Epoll struct {
	Targets []EpollTarget `json:"targets"`
}

// EpollTarget is one registered file.
type EpollTarget struct {
	FD     int    `json:"tfd"`    // descriptor number it was added with
	Events Hex    `json:"events"` // EPOLL* mask
	Data   Hex    `json:"data"`   // epoll_data as a 64-bit word
	Inode  uint64 `json:"inode"`  // "ino:" of the target, to find it if the fd was closed
	Dev    Dev    `json:"dev,omitempty"`
	Pos    int64  `json:"pos,omitempty"`
	// OFD, when set, is the description of the watched file, which fd FD
	// of the epoll's process no longer is (closed or reused since it was
	// added): restore registers that file under FD (required feature
	// "epoll-tfd").
	OFD int `json:"ofd,omitempty"`
}

// Eventfd is the state of an eventfd.
type Eventfd struct {
	Count     uint64 `json:"count"` // "eventfd-count:"
	Semaphore bool   `json:"semaphore,omitempty"`
}

// Pipe identifies a pipe or FIFO; both ends carry the same Inode. The
// end with the lowest OFD (in image order) carries the pipe's state.
type Pipe struct {
	Inode uint64 `json:"inode"`
	// Size is the pipe's capacity (F_GETPIPE_SZ).
	Size int `json:"size,omitempty"`
	// Data names the blob holding the bytes buffered in the pipe at
	// checkpoint time (read without consuming them, with tee(2)); "" if
	// it was empty. Only one end of a pipe carries it.
	Data string `json:"data,omitempty"`
}

// Timerfd is the state of a timerfd (its fdinfo).
type Timerfd struct {
	Clock        int    `json:"clockid"`
	Ticks        uint64 `json:"ticks,omitempty"`         // expirations not read yet
	SettimeFlags int    `json:"settime_flags,omitempty"` // TFD_TIMER_ABSTIME…
	ValueNS      int64  `json:"value_ns"`                // time left until it fires (0: disarmed)
	IntervalNS   int64  `json:"interval_ns"`
	// DeadlineNS, for an armed TFD_TIMER_ABSTIME timer on a wall clock
	// (CLOCK_REALTIME, _ALARM), is the instant it is due (that clock's
	// ns): the restore arms it there, however long the downtime. Other
	// absolute timers are due value_ns after the app's clock resumes
	// (the time namespace hides the downtime).
	DeadlineNS int64 `json:"deadline_ns,omitempty"`
}

// Signalfd is the state of a signalfd.
type Signalfd struct {
	Mask Hex `json:"mask"` // bit n-1 = signal n
}

// Memfd is the state of a memfd (content in FD.Blob).
type Memfd struct {
	Name  string `json:"name"`  // as given to memfd_create, without "memfd:"
	Seals int    `json:"seals"` // F_GET_SEALS
	Size  int64  `json:"size"`
	// Mode, UID and GID are the memfd inode's (fchmod, fchown; 0 in images
	// of an older crrun: not restored). Images that have them require the
	// "memfd-state" feature.
	Mode Octal  `json:"mode,omitempty"`
	UID  uint32 `json:"uid,omitempty"`
	GID  uint32 `json:"gid,omitempty"`
}

// Socket is one end of an AF_UNIX socketpair whose both ends lived in the
// app (Peer is the other end's inode). Data names the blob with the bytes
// queued for reading at this end (SOCK_STREAM only).
type Socket struct {
	Type  int    `json:"type"` // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	Inode uint64 `json:"inode"`
	Peer  uint64 `json:"peer"`
	Data  string `json:"data,omitempty"`
	// ShutRD/ShutWR: shutdown(2) already called on this end.
	Shutdown int `json:"shutdown,omitempty"`
	// Name is the address the socket is bound to: a path, or an abstract
	// name starting with a NUL byte; "" if unbound. An accepted socket has
	// its listener's name.
	Name string `json:"name,omitempty"`
	// Listen: a listening socket with this backlog (no connection may be
	// pending in it).
	Listen  bool `json:"listen,omitempty"`
	Backlog int  `json:"backlog,omitempty"`
	// Unlinked: the path Name no longer names this socket (its file was
	// unlinked, or another socket bound the name since). Restore binds it
	// before any socket that owns the name now, and removes its file once
	// every connection through it is made (required feature
	// "unix-unlinked").
	Unlinked bool `json:"unlinked,omitempty"`
	// Opts are the socket's SOL_SOCKET options (names: UnixSockOpts) as
	// getsockopt read them; restore sets those a new socket has otherwise
	// (required feature "unix-queues").
	Opts map[string]int64 `json:"opts,omitempty"`
	// PeerGone: connected once, its peer closed since (sock_diag gives a
	// peer that is no socket any more); Peer is then 0.
	PeerGone bool `json:"peer_gone,omitempty"`
	// Msgs are the messages queued for reading at a datagram or seqpacket
	// socket, in order; their bytes are Data's, one after another. At a
	// stream socket whose reader has SO_PASSCRED, the runs of bytes of one
	// sender's credentials (Cred); at a stream socket with files in flight,
	// its runs of bytes, each run that carries files alone with them
	// (Files), restored by one sendmsg each from the peer (required
	// feature "unix-queues").
	Msgs []SockMsg `json:"msgs,omitempty"`
	// Pending are the connections waiting in a listener's backlog, oldest
	// first: the inode of each one's connecting socket (0: closed since),
	// whose restore connects it again (nothing may be queued in them yet)
	// (required feature "unix-queues").
	Pending []uint64 `json:"pending,omitempty"`
	// PeerCred is SO_PEERCRED as the app saw it (read by an injected
	// getsockopt: the pid in the app's namespace, its uid and gid): the
	// process that made the pair, listened (for a listener and for the
	// client end of a connection made through it) or connected (for an
	// accepted end). NoPeerCred when the socket has none. Restore makes the
	// socket as that pid with those effective ids (restore/peercred.go);
	// nil in images of an older crrun.
	PeerCred *Ucred `json:"peer_cred,omitempty"`
}

// NoPeerCred is SO_PEERCRED of a socket nobody connected: pid 0 and the
// overflow ids (-1).
var NoPeerCred = Ucred{Pid: 0, Uid: ^uint32(0), Gid: ^uint32(0)}

// SockMsg is one datagram or seqpacket record queued at a socket.
type SockMsg struct {
	Len int `json:"len"`
	// From is the sender's address as recvmsg gives it ("" unbound);
	// Sender its inode when it is a socket of the app (0: closed since,
	// restore sends from a temporary socket bound to From).
	From   string `json:"from,omitempty"`
	Sender uint64 `json:"sender,omitempty"`
	// Files are the files in flight with the message (SCM_RIGHTS), in
	// order: each saved as an fd of the app is (FD, Stdio and OFD as for
	// the app's own; FD is the number crrun's peek received it on).
	Files []FD `json:"files,omitempty"`
	// Cred: the sender's credentials (SCM_CREDENTIALS, the pid in the
	// app's namespace), kept for a reader with SO_PASSCRED: restore sends
	// the message again naming them, once every process exists.
	Cred *Ucred `json:"cred,omitempty"`
}

// Ucred is a struct ucred.
type Ucred struct {
	Pid int    `json:"pid"`
	Uid uint32 `json:"uid"`
	Gid uint32 `json:"gid"`
}

// Thread is the state of one thread.
type Thread struct {
	TID   int    `json:"tid"` // in the program's PID namespace
	NSTID []int  `json:"nstid,omitempty"`
	Comm  string `json:"comm,omitempty"`
	// Regs are the general registers, already normalised for a restarted
	// system call (see DESIGN.md, "Checkpoint"); they include fs_base and
	// gs_base.
	Regs Regs `json:"regs"`
	// XState is the PTRACE_GETREGSET NT_X86_XSTATE buffer, exactly the
	// length the kernel returned (FPU, SSE, AVX… state). JSON: base64.
	XState []byte `json:"xstate"`
	// SigMask is the blocked signal mask (bit n-1 = signal n).
	SigMask Hex `json:"sigmask"`
	// ClearTID is the set_tid_address / CLONE_CHILD_CLEARTID address.
	ClearTID    Hex         `json:"clear_tid"`
	RobustList  RobustList  `json:"robust_list"`
	Rseq        *Rseq       `json:"rseq,omitempty"` // nil if not registered
	SigAltStack SigAltStack `json:"sigaltstack"`
	Pending     []SigInfo   `json:"pending,omitempty"` // thread-directed pending signals, oldest first
	// Creds are the thread's own credentials where they differ from the
	// process's (Process.Creds, the main thread's): credentials are per
	// thread in the kernel.
	Creds *Credentials `json:"creds,omitempty"`
	// Seccomp are the app's own seccomp filters of this thread, oldest
	// first (those above crrun's NOCR filter): restore installs them again
	// on top of it, last. Saved only by root (PTRACE_SECCOMP_GET_FILTER).
	Seccomp []SeccompFilter `json:"seccomp,omitempty"`
	// Attrs are the thread's scheduling attributes; nil in images of older
	// crrun versions.
	Attrs *ThreadAttrs `json:"attrs,omitempty"`
}

// SeccompFilter is one classic BPF seccomp filter.
type SeccompFilter struct {
	// Prog is the struct sock_filter array (8 bytes per instruction).
	// JSON: base64.
	Prog []byte `json:"prog"`
	// Flags are the SECCOMP_FILTER_FLAG_* the kernel kept (LOG).
	Flags uint64 `json:"flags,omitempty"`
}

// RobustList is the get_robust_list(2) result.
type RobustList struct {
	Head Hex    `json:"head"`
	Len  uint64 `json:"len"`
}

// Rseq is the PTRACE_GET_RSEQ_CONFIGURATION result.
type Rseq struct {
	Addr  Hex    `json:"addr"`
	Len   uint32 `json:"len"`
	Sig   Hex    `json:"sig"`
	Flags uint32 `json:"flags,omitempty"`
}

// SigAltStack is the sigaltstack(2) state.
type SigAltStack struct {
	SP    Hex    `json:"sp"`
	Size  uint64 `json:"size"`
	Flags int32  `json:"flags"` // SS_ONSTACK, SS_DISABLE, SS_AUTODISARM
}

// Regs are the x86_64 general registers, field for field the kernel's
// struct user_regs_struct (PTRACE_GETREGS) in the same order.
type Regs struct {
	R15     Hex `json:"r15"`
	R14     Hex `json:"r14"`
	R13     Hex `json:"r13"`
	R12     Hex `json:"r12"`
	Rbp     Hex `json:"rbp"`
	Rbx     Hex `json:"rbx"`
	R11     Hex `json:"r11"`
	R10     Hex `json:"r10"`
	R9      Hex `json:"r9"`
	R8      Hex `json:"r8"`
	Rax     Hex `json:"rax"`
	Rcx     Hex `json:"rcx"`
	Rdx     Hex `json:"rdx"`
	Rsi     Hex `json:"rsi"`
	Rdi     Hex `json:"rdi"`
	OrigRax Hex `json:"orig_rax"`
	Rip     Hex `json:"rip"`
	Cs      Hex `json:"cs"`
	Eflags  Hex `json:"eflags"`
	Rsp     Hex `json:"rsp"`
	Ss      Hex `json:"ss"`
	FsBase  Hex `json:"fs_base"`
	GsBase  Hex `json:"gs_base"`
	Ds      Hex `json:"ds"`
	Es      Hex `json:"es"`
	Fs      Hex `json:"fs"`
	Gs      Hex `json:"gs"`
}

// PageExtent is one run of saved pages: Length bytes of memory of process
// PID starting at Vaddr, stored at Offset in the page file File. Both Vaddr
// and Offset are multiples of PageSize, so a raw run can be mapped straight
// from the file. CRC32C covers the bytes stored in the file (for a raw run,
// the memory itself). An extent lies inside one VMA.
//
// Encoding says how the run is stored (EncodingRaw, EncodingZstd,
// EncodingZero; see compress.go and docs/image-format.md); any other than
// raw requires the feature FeatureCompressedPages.
type PageExtent struct {
	PID    int    `json:"pid"`
	Vaddr  Hex    `json:"vaddr"`
	Length uint64 `json:"length"`
	File   string `json:"file"`
	// Gen, when set, names the generation of the same store whose page
	// file File holds the bytes (an incremental image refers to its
	// parents' pages for memory unchanged since; Manifest.Parents).
	Gen    string `json:"gen,omitempty"`
	Offset uint64 `json:"offset"`
	CRC32C CRC32C `json:"crc32c"`
	// Encoding is "" (raw), "zstd" or "zero".
	Encoding string `json:"encoding,omitempty"`
	// Stored is, for zstd, the length of the frame at Offset (less than
	// Length); the extent takes it rounded up to PageSize in the file.
	Stored uint64 `json:"stored,omitempty"`
	// DataCRC32C is, for zstd, the CRC-32C of the Length decompressed bytes.
	DataCRC32C CRC32C `json:"data_crc32c,omitempty"`
}

// FileSpan is how many bytes of its page file the extent takes.
func (e PageExtent) FileSpan() uint64 {
	switch e.Encoding {
	case EncodingZstd, EncodingZstdShuffle:
		return alignUp(e.Stored)
	case EncodingZero:
		return 0
	}
	return e.Length
}

// End returns Vaddr+Length.
func (e PageExtent) End() uint64 { return uint64(e.Vaddr) + e.Length }
