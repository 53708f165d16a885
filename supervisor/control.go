package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// RuntimeDir is where supervisors put their control sockets, one per
// supervisor, named <supervisor pid>.sock:
// $CRRUN_RUNTIME_DIR, else $XDG_RUNTIME_DIR/crrun, else /run/crrun for root,
// else /tmp/crrun-<uid>.
func RuntimeDir(override string) string {
	if override != "" {
		return override
	}
	if d := os.Getenv("CRRUN_RUNTIME_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "crrun")
	}
	if os.Geteuid() == 0 {
		return "/run/crrun"
	}
	return fmt.Sprintf("/tmp/crrun-%d", os.Geteuid())
}

// ensureRuntimeDir creates dir 0700 and refuses one that another user owns or
// others can write (it may sit in /tmp).
func ensureRuntimeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return os.NewSyscallError("lstat "+dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to us (uid %d)", dir, st.Uid, os.Geteuid())
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is writable by others (mode %o)", dir, st.Mode&0o777)
	}
	return nil
}

// checkRuntimeDir is the clients' side of ensureRuntimeDir: a runtime
// directory that is not the user's alone is refused, not read (another
// user could have planted a socket in it that answers for a crrun).
func checkRuntimeDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("runtime directory %s is not a directory (a symbolic link?): refusing to use it", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("runtime directory %s belongs to uid %d, not to you (uid %d): refusing to talk to the sockets in it (another user could answer for a crrun); use your own --runtime-dir",
			dir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("runtime directory %s is writable by others (mode %04o): refusing to talk to the sockets in it; chmod go-w it", dir, st.Mode&0o7777)
	}
	return nil
}

// checkSocket refuses a control socket that is not a socket of the user's.
func checkSocket(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return fmt.Errorf("control socket %s is not a socket: refusing to use it", path)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("control socket %s belongs to uid %d, not to you (uid %d): refusing to talk to it (another user could answer for a crrun)",
			path, st.Uid, os.Geteuid())
	}
	return nil
}

// checkServer checks SO_PEERCRED of a connected control socket: the
// answering process must run as the user.
func checkServer(conn *net.UnixConn, path string) error {
	cred, err := peerCred(conn)
	if err != nil {
		return err
	}
	if int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("control socket %s is served by pid %d of uid %d, not by you (uid %d): refusing its answer", path, cred.Pid, cred.Uid, os.Geteuid())
	}
	return nil
}

// request and response of the control protocol: one JSON line each way.
type request struct {
	Op   string `json:"op"`             // "status", "checkpoint"
	Exit bool   `json:"exit,omitempty"` // checkpoint: end the app afterwards
	// Compress is the page compression of this checkpoint ("": the
	// supervisor's --compress). An older supervisor ignores it.
	Compress string `json:"compress,omitempty"`
}

type response struct {
	Error      string            `json:"error,omitempty"`
	Code       int               `json:"code,omitempty"` // with Error: the exit status for the client
	Status     *Status           `json:"status,omitempty"`
	Checkpoint *CheckpointResult `json:"checkpoint,omitempty"`
}

type controlServer struct {
	ln   *net.UnixListener
	path string
}

func (c *controlServer) Close() {
	c.ln.Close()
	os.Remove(c.path)
}

func (s *Supervisor) serveControl() (*controlServer, error) {
	dir := RuntimeDir(s.cfg.RuntimeDir)
	if err := ensureRuntimeDir(dir); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	path := filepath.Join(dir, strconv.Itoa(os.Getpid())+".sock")
	os.Remove(path) // a stale socket of a dead crrun with our pid
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	c := &controlServer{ln: ln, path: path}
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go s.serveConn(conn)
		}
	}()
	return c, nil
}

// peerAllowed checks SO_PEERCRED: the same uid as crrun, or root.
func peerAllowed(conn *net.UnixConn) error {
	cred, err := peerCred(conn)
	if err != nil {
		return err
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("uid %d may not control a crrun of uid %d", cred.Uid, os.Geteuid())
	}
	return nil
}

func (s *Supervisor) serveConn(conn *net.UnixConn) {
	s.inflight.Add(1) // crrun waits for answers in flight before it exits
	defer s.inflight.Done()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	enc := json.NewEncoder(conn)
	// Read the request first, so a refused client reads our answer instead of
	// failing its write with EPIPE.
	line, err := bufio.NewReader(io.LimitReader(conn, 64<<10)).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	if err := peerAllowed(conn); err != nil {
		slog.Warn("control socket: refused a client", "err", err)
		_ = enc.Encode(response{Error: "permission denied: " + err.Error(), Code: ExitRefused})
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		_ = enc.Encode(response{Error: "bad request: " + err.Error()})
		return
	}
	switch req.Op {
	case "status":
		st := s.Status()
		_ = enc.Encode(response{Status: &st})
	case "checkpoint":
		_ = conn.SetDeadline(time.Time{}) // as long as it takes to be durable
		comp := image.Compression("")
		if req.Compress != "" {
			c, err := image.ParseCompression(req.Compress)
			if err != nil {
				_ = enc.Encode(response{Error: "--compress: " + err.Error(), Code: ExitUsage})
				return
			}
			comp = c
		}
		res, err := s.CheckpointWith(image.TriggerCommand, "crrun checkpoint", req.Exit, comp)
		if err != nil {
			_ = enc.Encode(response{Error: err.Error(), Code: checkpointExitCode(err, s.cfg.Dir)})
			return
		}
		_ = enc.Encode(response{Checkpoint: res})
	default:
		_ = enc.Encode(response{Error: fmt.Sprintf("unknown request %q", req.Op)})
	}
}

// ErrNoSupervisor means no running crrun answers at that pid.
var ErrNoSupervisor = errors.New("no running crrun")

// QueryStatus asks the supervisor with pid for its status.
func QueryStatus(runtimeDir string, pid int) (*Status, error) {
	resp, err := ask(runtimeDir, pid, request{Op: "status"}, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("crrun %d: empty answer", pid)
	}
	return resp.Status, nil
}

// RequestCheckpoint asks the supervisor with pid for a checkpoint and waits
// until it is durable.
func RequestCheckpoint(runtimeDir string, pid int, exit bool) (*CheckpointResult, error) {
	return RequestCheckpointWith(runtimeDir, pid, exit, "")
}

// RequestCheckpointWith is RequestCheckpoint with the page compression of
// this checkpoint ("": the supervisor's own, its --compress).
func RequestCheckpointWith(runtimeDir string, pid int, exit bool, compress image.Compression) (*CheckpointResult, error) {
	resp, err := ask(runtimeDir, pid, request{Op: "checkpoint", Exit: exit, Compress: string(compress)}, 0)
	if err != nil {
		return nil, err
	}
	if resp.Checkpoint == nil {
		return nil, fmt.Errorf("crrun %d: empty answer", pid)
	}
	return resp.Checkpoint, nil
}

func ask(runtimeDir string, pid int, req request, timeout time.Duration) (*response, error) {
	dir := RuntimeDir(runtimeDir)
	path := filepath.Join(dir, strconv.Itoa(pid)+".sock")
	noSocket := func() error { return fmt.Errorf("%w with pid %d (no control socket %s)", ErrNoSupervisor, pid, path) }
	for _, check := range []func() error{func() error { return checkRuntimeDir(dir) }, func() error { return checkSocket(path) }} {
		if err := check(); errors.Is(err, os.ErrNotExist) {
			return nil, noSocket()
		} else if err != nil {
			return nil, &Error{Code: ExitRefused, Msg: err.Error()}
		}
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, noSocket()
		}
		return nil, fmt.Errorf("connect to crrun %d at %s: %w", pid, path, err)
	}
	defer c.Close()
	conn := c.(*net.UnixConn)
	if err := checkServer(conn, path); err != nil {
		return nil, &Error{Code: ExitRefused, Msg: err.Error()}
	}
	if timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(timeout))
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("ask crrun %d: %w", pid, err)
	}
	var resp response
	if err := json.NewDecoder(io.LimitReader(conn, 64<<20)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read the answer of crrun %d: %w", pid, err)
	}
	if resp.Error != "" {
		return nil, &RemoteError{Pid: pid, Msg: resp.Error, Code: resp.Code}
	}
	return &resp, nil
}

// RemoteError is an error reported by a supervisor.
type RemoteError struct {
	Pid  int
	Msg  string
	Code int // the exit status the client should mirror (0: not said)
}

func (e *RemoteError) Error() string { return fmt.Sprintf("crrun %d: %s", e.Pid, e.Msg) }

// ListSupervisors returns the pids of running supervisors, removing the sockets
// of dead ones.
func ListSupervisors(runtimeDir string) ([]int, error) {
	dir := RuntimeDir(runtimeDir)
	if err := checkRuntimeDir(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, &Error{Code: ExitRefused, Msg: err.Error()}
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".sock")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids, nil
}

// peerCred is SO_PEERCRED of a connected unix socket.
func peerCred(conn *net.UnixConn) (*unix.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}
