// Package sysvipc reads and recreates the SysV IPC objects of the calling
// process's IPC namespace: shared memory segments, semaphore sets, message
// queues, with their ids, keys, owners, modes and contents, and the
// namespace's tunables. It is mechanism only, run by crrun's init, which
// lives inside the app's IPC namespace (and user namespace) with the
// capabilities it needs; the supervisor decides what to do with it
// (docs/design.md, "IPC").
package sysvipc

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// ipc(2) commands and flags (include/uapi/linux/{ipc,sem,msg,shm}.h).
const (
	ipcRMID   = 0
	ipcSet    = 1
	ipcStat   = 2
	semGetAll = 13
	semSetAll = 17
	msgCopy   = 0o40000
	ipcNoWait = 0o4000
	shmDest   = 0o1000
	shmLocked = 0o2000
	shmLock   = 11
)

// Sysctls are the namespace's tunables a restore sets back (the *_next_id
// ones are the restore's own means).
var Sysctls = []string{"kernel/shmmax", "kernel/shmall", "kernel/shmmni", "kernel/shm_rmid_forced", "kernel/msgmax",
	"kernel/msgmnb", "kernel/msgmni", "kernel/auto_msgmni", "kernel/sem",
	"fs/mqueue/msg_max", "fs/mqueue/msgsize_max", "fs/mqueue/queues_max", "fs/mqueue/msg_default", "fs/mqueue/msgsize_default"}

// Dump is the namespace's state with what the supervisor must copy: each
// segment attached in this process (Addr, until Detach) and each queue's
// message texts.
type Dump struct {
	IPC   *image.IPC     `json:"ipc"`
	Addrs map[int]uint64 `json:"addrs,omitempty"` // shmid → address of its attachment here
	Texts map[int][]byte `json:"texts,omitempty"` // msqid → texts back to back
	// MqTexts are the POSIX queues' texts back to back, by queue name.
	MqTexts map[string][]byte `json:"mq_texts,omitempty"`
	// Refused are the NOCR reasons for objects this crrun cannot
	// recreate as they are (a segment on huge pages).
	Refused []string `json:"refused,omitempty"`
	// Sems answers SemStates (the "sems" request), by set id.
	Sems map[int]SemState `json:"sems,omitempty"`
}

// table reads /proc/sysvipc/NAME as rows of column → value.
func table(name string) ([]map[string]string, error) {
	f, err := os.Open("/proc/sysvipc/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("/proc/sysvipc/%s: no header", name)
	}
	cols := strings.Fields(sc.Text())
	var rows []map[string]string
	for sc.Scan() {
		vals := strings.Fields(sc.Text())
		if len(vals) < len(cols) {
			return nil, fmt.Errorf("/proc/sysvipc/%s: short row %q", name, sc.Text())
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i]
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

func num(row map[string]string, col string) (int64, error) {
	v, err := strconv.ParseInt(row[col], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("column %s: %q: %w", col, row[col], err)
	}
	return v, nil
}

func perm(row map[string]string, idCol string) (image.SysVPerm, error) {
	var p image.SysVPerm
	vals := map[string]int64{}
	for _, c := range []string{"key", idCol, "uid", "gid", "cuid", "cgid"} {
		v, err := num(row, c)
		if err != nil {
			return p, err
		}
		vals[c] = v
	}
	mode, err := strconv.ParseUint(row["perms"], 8, 32)
	if err != nil {
		return p, fmt.Errorf("column perms: %q: %w", row["perms"], err)
	}
	return image.SysVPerm{ID: int(vals[idCol]), Key: int32(vals["key"]), UID: uint32(vals["uid"]), GID: uint32(vals["gid"]),
		CUID: uint32(vals["cuid"]), CGID: uint32(vals["cgid"]), Mode: image.Octal(mode)}, nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Take reads the namespace. With keep, every segment stays attached here
// (Dump.Addrs) until Detach, for the supervisor to read its bytes;
// otherwise each is detached once hashed. nattch is read before any
// attach of ours.
func Take(keep bool) (*Dump, error) {
	d := &Dump{IPC: &image.IPC{Mode: image.IPCPrivate, Sysctls: map[string]string{}}, Addrs: map[int]uint64{}, Texts: map[int][]byte{}}
	for _, name := range Sysctls {
		b, err := os.ReadFile("/proc/sys/" + name)
		if err != nil {
			continue // an older kernel without it
		}
		d.IPC.Sysctls[name] = strings.Join(strings.Fields(string(b)), " ")
	}
	shm, err := table("shm")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			Detach(d.Addrs)
		}
	}()
	for _, row := range shm {
		p, err := perm(row, "shmid")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/shm: %w", err)
		}
		size, err := num(row, "size")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/shm: %w", err)
		}
		nattch, err := num(row, "nattch")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/shm: %w", err)
		}
		s := image.SysVShm{SysVPerm: p, Size: uint64(size), Nattch: int(nattch), Blob: fmt.Sprintf("sysv-shm-%d", p.ID)}
		addr, err := unix.SysvShmAttach(p.ID, 0, unix.SHM_RDONLY)
		if err != nil {
			return nil, fmt.Errorf("attach segment %d: %w", p.ID, err)
		}
		a := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(addr))))
		d.Addrs[p.ID] = a
		s.SHA256 = sum(addr[:s.Size])
		huge := false
		if s.CreateKey, huge, err = createKey(a); err != nil {
			return nil, fmt.Errorf("segment %d: %w", p.ID, err)
		}
		if huge {
			d.Refused = append(d.Refused, fmt.Sprintf("CR: SysV segment shmid %d (key %#x) on huge pages (SHM_HUGETLB) not supported yet", p.ID, uint32(p.Key)))
		}
		if !keep {
			_ = unix.SysvShmDetach(addr)
			delete(d.Addrs, p.ID)
		}
		d.IPC.Shm = append(d.IPC.Shm, s)
	}
	sem, err := table("sem")
	if err != nil {
		return nil, err
	}
	for _, row := range sem {
		p, err := perm(row, "semid")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/sem: %w", err)
		}
		n, err := num(row, "nsems")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/sem: %w", err)
		}
		vals := make([]uint16, n)
		if n > 0 {
			if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(p.ID), 0, semGetAll, uintptr(unsafe.Pointer(&vals[0])), 0, 0); e != 0 {
				return nil, fmt.Errorf("semctl(%d, GETALL): %w", p.ID, e)
			}
		}
		d.IPC.Sem = append(d.IPC.Sem, image.SysVSem{SysVPerm: p, Values: vals})
	}
	msg, err := table("msg")
	if err != nil {
		return nil, err
	}
	for _, row := range msg {
		p, err := perm(row, "msqid")
		if err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/msg: %w", err)
		}
		q := image.SysVMsg{SysVPerm: p}
		var ds [120]byte // struct msqid64_ds
		if _, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(p.ID), ipcStat, uintptr(unsafe.Pointer(&ds[0]))); e != 0 {
			return nil, fmt.Errorf("msgctl(%d, IPC_STAT): %w", p.ID, e)
		}
		cbytes := binary.LittleEndian.Uint64(ds[48+24:])
		qnum := binary.LittleEndian.Uint64(ds[48+32:])
		q.QBytes = binary.LittleEndian.Uint64(ds[48+40:])
		buf := make([]byte, 8+cbytes)
		var texts []byte
		for i := uint64(0); i < qnum; i++ {
			// MSG_COPY: the i-th message, left in the queue.
			n, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(p.ID), uintptr(unsafe.Pointer(&buf[0])), uintptr(cbytes), uintptr(i), msgCopy|ipcNoWait, 0)
			if e != 0 {
				return nil, fmt.Errorf("msgrcv(%d, MSG_COPY %d of %d): %w", p.ID, i, qnum, e)
			}
			q.Messages = append(q.Messages, image.SysVMessage{Type: int64(binary.LittleEndian.Uint64(buf)), Size: int(n)})
			texts = append(texts, buf[8:8+n]...)
		}
		if len(texts) > 0 {
			q.Blob = fmt.Sprintf("sysv-msg-%d", p.ID)
			q.SHA256 = sum(texts)
			d.Texts[p.ID] = texts
		}
		d.IPC.Msg = append(d.IPC.Msg, q)
	}
	if err := takeMqueues(d); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// createKey reads the key a segment attached at addr was created with from
// its mapping's name in /proc/self/smaps ("/SYSVkkkkkkkk"): a removed
// segment's ipc_perm shows key 0. huge: the mapping's pages are not the
// base size (SHM_HUGETLB).
func createKey(addr uint64) (key int32, huge bool, err error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	prefix := strconv.FormatUint(addr, 16) + "-"
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !found {
			if !strings.HasPrefix(line, prefix) {
				continue
			}
			i := strings.Index(line, "/SYSV")
			if i < 0 || len(line) < i+13 {
				break
			}
			k, err := strconv.ParseUint(line[i+5:i+13], 16, 32)
			if err != nil {
				return 0, false, fmt.Errorf("mapping name %q: %w", line[i:], err)
			}
			key, found = int32(uint32(k)), true
			continue
		}
		if v, ok := strings.CutPrefix(line, "KernelPageSize:"); ok {
			return key, strings.TrimSpace(v) != "4 kB", nil
		}
	}
	if found {
		return 0, false, fmt.Errorf("no KernelPageSize for the SysV mapping at %#x in /proc/self/smaps", addr)
	}
	return 0, false, fmt.Errorf("no SysV mapping at %#x in /proc/self/smaps", addr)
}

// Detach undoes Take(true)'s and Create's attachments.
func Detach(addrs map[int]uint64) {
	for _, a := range addrs {
		_, _, _ = unix.Syscall(unix.SYS_SHMDT, uintptr(a), 0, 0)
	}
}

func writeNextID(kind string, id int) error {
	return os.WriteFile("/proc/sys/kernel/"+kind+"_next_id", []byte(strconv.Itoa(id)), 0)
}

// asCreator runs f on a locked thread whose effective ids are the
// creator's (an object's cuid and cgid are its creator's), for this
// thread alone.
func asCreator(p image.SysVPerm, f func() error) error {
	if p.CUID == uint32(os.Geteuid()) && p.CGID == uint32(os.Getegid()) {
		return f()
	}
	runtime.LockOSThread()
	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	// Raw calls: the change is this thread's alone (the Go wrappers change
	// every thread). Gid first, while we may.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), uintptr(p.CGID), ^uintptr(0)); e != 0 {
		runtime.UnlockOSThread()
		return fmt.Errorf("creator gid %d: %w", p.CGID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(p.CUID), ^uintptr(0)); e != 0 {
		_, _, _ = unix.RawSyscall(unix.SYS_SETRESGID, uintptr(rgid), uintptr(egid), uintptr(sgid))
		runtime.UnlockOSThread()
		return fmt.Errorf("creator uid %d: %w", p.CUID, e)
	}
	err := f()
	_, _, e1 := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(ruid), uintptr(euid), uintptr(suid))
	_, _, e2 := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(rgid), uintptr(egid), uintptr(sgid))
	if e1 != 0 || e2 != 0 {
		// Never hand this thread back with other ids: let it die with
		// the goroutine (LockOSThread without Unlock).
		return fmt.Errorf("restore the init's ids: %v %v", e1, e2)
	}
	runtime.UnlockOSThread()
	return err
}

// setPerm gives an object its owner and mode (IPC_SET): struct
// ipc64_perm's uid, gid and mode at offsets 4, 8, 20.
func setPerm(call uintptr, id int, p image.SysVPerm, qbytes uint64) error {
	ds := make([]byte, 128) // struct shmid64_ds, semid64_ds, msqid64_ds
	binary.LittleEndian.PutUint32(ds[4:], p.UID)
	binary.LittleEndian.PutUint32(ds[8:], p.GID)
	binary.LittleEndian.PutUint32(ds[20:], uint32(p.Mode)&0o777)
	if call == unix.SYS_MSGCTL {
		binary.LittleEndian.PutUint64(ds[48+40:], qbytes)
	}
	var e unix.Errno
	if call == unix.SYS_SEMCTL { // semctl(id, semnum, cmd, arg)
		_, _, e = unix.Syscall6(call, uintptr(id), 0, ipcSet, uintptr(unsafe.Pointer(&ds[0])), 0, 0)
	} else {
		_, _, e = unix.Syscall(call, uintptr(id), ipcSet, uintptr(unsafe.Pointer(&ds[0])))
	}
	runtime.KeepAlive(ds)
	if e != 0 {
		return e
	}
	return nil
}

// Create recreates ipc in this (new, empty) namespace: tunables, then every
// object with its id (*_next_id), key, creator, owner and mode, each
// segment attached here (returned: the caller fills it, then Detach),
// semaphore values, queued messages (texts: msqid → texts back to back).
// A removed segment is created with its creation key and removed at
// once: it lives on while attached (here, then by the app).
func Create(ipc *image.IPC, texts map[int][]byte, mqTexts map[string][]byte) (addrs map[int]uint64, err error) {
	addrs = map[int]uint64{}
	defer func() {
		if err != nil {
			Detach(addrs)
		}
	}()
	names := make([]string, 0, len(ipc.Sysctls))
	for k := range ipc.Sysctls {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if !known(name) {
			return nil, fmt.Errorf("unknown IPC tunable %q", name)
		}
		path := "/proc/sys/" + name
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if strings.Join(strings.Fields(string(b)), " ") == ipc.Sysctls[name] {
			continue
		}
		if err := os.WriteFile(path, []byte(ipc.Sysctls[name]), 0); err != nil {
			return nil, fmt.Errorf("set %s to %q as the app had it: %w", path, ipc.Sysctls[name], err)
		}
	}
	// Removed segments first: their creation key may be another's now.
	shm := append([]image.SysVShm(nil), ipc.Shm...)
	sort.SliceStable(shm, func(i, j int) bool { return shm[i].Mode&shmDest != 0 && shm[j].Mode&shmDest == 0 })
	for _, s := range shm {
		key := s.Key
		if s.Mode&shmDest != 0 {
			key = s.CreateKey
		}
		// The id first, with the init's own capabilities (a thread
		// with another euid has none).
		if err := writeNextID("shm", s.ID); err != nil {
			return nil, fmt.Errorf("shm_next_id %d: %w", s.ID, err)
		}
		err := asCreator(s.SysVPerm, func() error {
			id, err := unix.SysvShmGet(int(key), int(s.Size), unix.IPC_CREAT|unix.IPC_EXCL|int(s.Mode&0o777))
			if err != nil {
				return err
			}
			if id != s.ID {
				_, _ = unix.SysvShmCtl(id, ipcRMID, nil)
				return fmt.Errorf("got id %d", id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("create segment %d (key %#x, %d bytes): %w", s.ID, uint32(key), s.Size, err)
		}
		b, err := unix.SysvShmAttach(s.ID, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("attach segment %d: %w", s.ID, err)
		}
		addrs[s.ID] = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
		if err := setPerm(unix.SYS_SHMCTL, s.ID, s.SysVPerm, 0); err != nil {
			return nil, fmt.Errorf("segment %d: IPC_SET: %w", s.ID, err)
		}
		if s.Mode&shmLocked != 0 {
			if _, _, e := unix.Syscall(unix.SYS_SHMCTL, uintptr(s.ID), shmLock, 0); e != 0 {
				return nil, fmt.Errorf("segment %d: SHM_LOCK: %w", s.ID, e)
			}
		}
		if s.Mode&shmDest != 0 {
			if _, _, e := unix.Syscall(unix.SYS_SHMCTL, uintptr(s.ID), ipcRMID, 0); e != 0 {
				return nil, fmt.Errorf("segment %d: IPC_RMID: %w", s.ID, e)
			}
		}
	}
	for _, s := range ipc.Sem {
		// The id first, with the init's own capabilities (a thread
		// with another euid has none).
		if err := writeNextID("sem", s.ID); err != nil {
			return nil, fmt.Errorf("sem_next_id %d: %w", s.ID, err)
		}
		err := asCreator(s.SysVPerm, func() error {
			id, _, e := unix.Syscall(unix.SYS_SEMGET, uintptr(s.Key), uintptr(len(s.Values)), uintptr(unix.IPC_CREAT|unix.IPC_EXCL|int(s.Mode&0o777)))
			if e != 0 {
				return e
			}
			if int(id) != s.ID {
				_, _, _ = unix.Syscall6(unix.SYS_SEMCTL, id, 0, ipcRMID, 0, 0, 0)
				return fmt.Errorf("got id %d", id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("create semaphore set %d (key %#x, %d semaphores): %w", s.ID, uint32(s.Key), len(s.Values), err)
		}
		if len(s.Values) > 0 {
			if _, _, e := unix.Syscall6(unix.SYS_SEMCTL, uintptr(s.ID), 0, semSetAll, uintptr(unsafe.Pointer(&s.Values[0])), 0, 0); e != 0 {
				return nil, fmt.Errorf("semaphore set %d: SETALL: %w", s.ID, e)
			}
		}
		if err := setPerm(unix.SYS_SEMCTL, s.ID, s.SysVPerm, 0); err != nil {
			return nil, fmt.Errorf("semaphore set %d: IPC_SET: %w", s.ID, err)
		}
	}
	for _, q := range ipc.Msg {
		// The id first, with the init's own capabilities (a thread
		// with another euid has none).
		if err := writeNextID("msg", q.ID); err != nil {
			return nil, fmt.Errorf("msg_next_id %d: %w", q.ID, err)
		}
		err := asCreator(q.SysVPerm, func() error {
			id, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(q.Key), uintptr(unix.IPC_CREAT|unix.IPC_EXCL|int(q.Mode&0o777)), 0)
			if e != 0 {
				return e
			}
			if int(id) != q.ID {
				_, _, _ = unix.Syscall(unix.SYS_MSGCTL, id, ipcRMID, 0)
				return fmt.Errorf("got id %d", id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("create message queue %d (key %#x): %w", q.ID, uint32(q.Key), err)
		}
		if err := setPerm(unix.SYS_MSGCTL, q.ID, q.SysVPerm, q.QBytes); err != nil {
			return nil, fmt.Errorf("message queue %d: IPC_SET (owner, mode, %d bytes room): %w", q.ID, q.QBytes, err)
		}
		t := texts[q.ID]
		for i, m := range q.Messages {
			if m.Size > len(t) {
				return nil, fmt.Errorf("message queue %d: message %d: %d bytes, %d left in the blob", q.ID, i, m.Size, len(t))
			}
			buf := make([]byte, 8+m.Size)
			binary.LittleEndian.PutUint64(buf, uint64(m.Type))
			copy(buf[8:], t[:m.Size])
			t = t[m.Size:]
			if _, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(q.ID), uintptr(unsafe.Pointer(&buf[0])), uintptr(m.Size), ipcNoWait, 0, 0); e != 0 {
				return nil, fmt.Errorf("message queue %d: message %d (type %d, %d bytes): %w", q.ID, i, m.Type, m.Size, e)
			}
		}
		if len(t) != 0 {
			return nil, fmt.Errorf("message queue %d: %d bytes of texts left over", q.ID, len(t))
		}
	}
	if err := createMqueues(ipc.Mqueues, mqTexts); err != nil {
		return nil, err
	}
	return addrs, nil
}

func known(name string) bool {
	for _, n := range Sysctls {
		if n == name {
			return true
		}
	}
	return false
}
