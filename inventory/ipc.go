package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crrun/crrun/image"
)

// IPCFields renders an IPC namespace's SysV objects and POSIX message
// queues as fields ("sysvipc shm
// 3 key"): the checkpoint's reading (Meta.IPC) and the restored one, read
// by crrun's init alike, are compared with Compare (pid 0: the namespace).
// Not compared: times and last pids (the kernel sets them; the init's
// reading updates a segment's), semaphores' sempid and wait counts.
func IPCFields(ipc *image.IPC) Fields {
	f := Fields{}
	if ipc == nil {
		return f
	}
	f["sysvipc mode"] = ipc.Mode
	for k, v := range ipc.Sysctls {
		f["sysvipc sysctl "+k] = v
	}
	perm := func(kind string, p image.SysVPerm) string {
		pre := fmt.Sprintf("sysvipc %s %d ", kind, p.ID)
		f[pre+"key"] = fmt.Sprintf("%#x", uint32(p.Key))
		f[pre+"mode"] = fmt.Sprintf("%04o", uint32(p.Mode))
		f[pre+"owner"] = fmt.Sprintf("uid %d gid %d cuid %d cgid %d", p.UID, p.GID, p.CUID, p.CGID)
		return pre
	}
	for _, s := range ipc.Shm {
		pre := perm("shm", s.SysVPerm)
		f[pre+"size"] = strconv.FormatUint(s.Size, 10)
		f[pre+"nattch"] = strconv.Itoa(s.Nattch)
		f[pre+"content"] = s.SHA256
		f[pre+"created with key"] = fmt.Sprintf("%#x", uint32(s.CreateKey))
	}
	for _, s := range ipc.Sem {
		pre := perm("sem", s.SysVPerm)
		vals := make([]string, len(s.Values))
		for i, v := range s.Values {
			vals[i] = strconv.Itoa(int(v))
		}
		f[pre+"values"] = strings.Join(vals, ",")
	}
	for _, q := range ipc.Msg {
		pre := perm("msg", q.SysVPerm)
		f[pre+"qbytes"] = strconv.FormatUint(q.QBytes, 10)
		msgs := make([]string, len(q.Messages))
		for i, m := range q.Messages {
			msgs[i] = fmt.Sprintf("%d:%d", m.Type, m.Size)
		}
		f[pre+"messages"] = strings.Join(msgs, ",")
		f[pre+"content"] = q.SHA256
	}
	for _, q := range ipc.Mqueues {
		pre := "sysvipc mqueue /" + q.Name + " "
		f[pre+"mode"] = fmt.Sprintf("%04o", uint32(q.Mode))
		f[pre+"owner"] = fmt.Sprintf("uid %d gid %d", q.UID, q.GID)
		f[pre+"limits"] = fmt.Sprintf("%d messages of %d bytes", q.MaxMsg, q.MsgSize)
		msgs := make([]string, len(q.Messages))
		for i, m := range q.Messages {
			msgs[i] = fmt.Sprintf("%d:%d", m.Prio, m.Size)
		}
		f[pre+"messages"] = strings.Join(msgs, ",")
		f[pre+"content"] = q.SHA256
	}
	return f
}
