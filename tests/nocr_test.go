package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every category of the NOCR table fires with its reason, from a dynamic and a
// static C program.
func TestNOCRCategories(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		mode, reason string
	}{
		{"socket_inet", "CR: socket(AF_INET, UDP-Lite) not supported yet"},
		{"socket_inet6", "CR: socket(AF_INET6, UDP-Lite) not supported yet"},
		{"socketpair_inet", "CR: socketpair(AF_INET) not supported yet"},
		{"socket_i386", "CR: socket(AF_INET, UDP-Lite) not supported yet"}, // int $0x80
		{"io_uring", "CR: io_uring not supported yet"},
		{"aio", "CR: Linux AIO not supported yet"},
		{"userfaultfd", "CR: userfaultfd not supported yet"},
		{"perf", "CR: perf_event_open not supported yet"},
		{"bpf", "CR: bpf maps/programs not supported yet"},
		{"shmget", "CR: SysV shared memory not supported yet"},    // with --ipc=host
		{"mq_open", "CR: POSIX message queues not supported yet"}, // with --ipc=host
		{"memfd_secret", "CR: memfd_secret memory cannot be read"},
		{"unshare", "CR: new namespaces (CLONE_NEWUTS) not supported yet"},
		{"ptrace", "CR: ptrace inside the app not supported yet"},
		{"personality", "CR: personality(execution domain 0x6: a non-Linux execution domain or unknown flags) not supported yet"},
		{"keyctl", "CR: kernel keyrings not supported yet"},
		{"chroot", "CR: mount/chroot changes (chroot) not supported yet"},
		{"seccomp", "CR: the app's own seccomp filter with flags 0x8 (a listener, SPEC_ALLOW…) not supported yet"},
	}
	for _, static := range []bool{false, true} {
		b := compileC(t, "nocr", static)
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/static=%v", tc.mode, static), func(t *testing.T) {
				if tc.mode == "socket_i386" {
					requireInt80(t, b)
				}
				args := []string{"--", b, tc.mode}
				if tc.mode == "shmget" || tc.mode == "mq_open" { // the app's own IPC namespace traps neither
					args = append([]string{"--ipc=host"}, args...)
				}
				code, out, stderr := run(t, opts{}, args...)
				if code != 0 || !strings.HasPrefix(out, tc.mode+" ") {
					t.Fatalf("code %d out %q stderr %q", code, out, stderr)
				}
				pid := regexp.MustCompile(`NOCR pid (\d+) \((nocr[^)]*)\): `).FindStringSubmatch(stderr)
				want := "crrun: NOCR pid " + pidOr(pid) + ": " + tc.reason
				if pid == nil || !strings.Contains(stderr, want) {
					t.Fatalf("log lacks %q:\n%s", want, stderr)
				}
				if n := strings.Count(stderr, "NOCR pid"); n != 1 {
					t.Errorf("%d NOCR lines, want 1 (first taint per process and reason):\n%s", n, stderr)
				}
			})
		}
	}
}

func pidOr(m []string) string {
	if m == nil {
		return "?"
	}
	return m[1] + " (" + m[2] + ")"
}

// Harmless calls through trapped syscalls leave no taint. A semop with
// SEM_UNDO in the app's own IPC namespace is saved (checkpoint/semundo.go;
// with --ipc=host it taints: seccomp's TestDecodePrivateIPC); a process
// sharing its parent's undo list (clone with CLONE_SYSVSEM alone) is
// found by the checkpoint, through the list (corpus sysv_sem_undo_clone3).
func TestNOCRHarmlessCalls(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	for _, mode := range []string{"socket_unix", "personality_query", "personality_flags", "timer", "inotify", "semop_undo", "clone_sysvsem"} {
		code, out, stderr := run(t, opts{}, "--", b, mode)
		if code != 0 || strings.Contains(stderr, "NOCR") {
			t.Errorf("%s: code %d out %q: unexpected NOCR:\n%s", mode, code, out, stderr)
		}
	}
}

// Threads and children inherit the filter: their taints name them.
func TestNOCRThreadsAndChildren(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	code, out, stderr := run(t, opts{}, "--", b, "thread_socket")
	m := regexp.MustCompile(`NOCR pid (\d+) \(nocr\): CR: socket\(AF_INET, UDP-Lite\) not supported yet tid=(\d+)`).FindStringSubmatch(stderr)
	if code != 0 || m == nil || m[1] == m[2] {
		t.Errorf("thread: want a taint with tid != pid; code %d out %q\n%s", code, out, stderr)
	}
	code, out, stderr = run(t, opts{}, "--", b, "child_socket")
	m = regexp.MustCompile(`NOCR pid (\d+) \(nocr\): CR: socket\(AF_INET, UDP-Lite\)`).FindStringSubmatch(stderr)
	if code != 0 || m == nil || !strings.Contains(out, "child pid=") {
		t.Errorf("child: code %d out %q\n%s", code, out, stderr)
	}
	// and through exec: a shell's child
	code, _, stderr = run(t, opts{}, "--", "sh", "-c", b+" socket_inet; true")
	if code != 0 || !strings.Contains(stderr, "(nocr): CR: socket(AF_INET, UDP-Lite)") {
		t.Errorf("exec'd grandchild: code %d\n%s", code, stderr)
	}
}

// holdApp runs `nocr MODE hold` with a pipe on stdin to step it.
type holdApp struct {
	*app
	w *os.File
}

func startHold(t *testing.T, args ...string) *holdApp {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a := start(t, opts{stdin: r}, args...)
	r.Close()
	a.waitOutput("HOLDING", 10*time.Second)
	return &holdApp{a, w}
}

func (h *holdApp) step(wait string) {
	h.w.Write([]byte("\n"))
	h.waitOutput(wait, 10*time.Second)
}

// An fd-bound taint clears once the fd is closed; the scan is the authority.
func TestNOCRFdTaintClears(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	for _, tc := range []struct{ mode, reason string }{
		{"socket_inet", "CR: socket(AF_INET, UDP-Lite) not supported yet (fd 3)"},
		{"userfaultfd", "CR: userfaultfd not supported yet (fd 3)"},
		{"io_uring", "CR: io_uring not supported yet (fd 3)"},
		{"personality", "CR: personality(execution domain 0x6: a non-Linux execution domain or unknown flags) not supported yet"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := startHold(t, "--", b, tc.mode, "hold")
			st := h.status()
			if st.Checkpointable || len(st.Reasons) != 1 || st.Reasons[0].Reason != tc.reason {
				t.Fatalf("while held: want exactly %q, got checkpointable=%v\n%s", tc.reason, st.Checkpointable, st.reasons())
			}
			r := st.Reasons[0]
			if r.Source != "trap+scan" || r.Comm != "nocr" || r.Pid != st.Processes[0].Pid || r.Syscall == "" {
				t.Errorf("reason does not say who: %+v", r)
			}
			h.step("RELEASED")
			if st := h.status(); !st.Checkpointable {
				t.Fatalf("after release: still not checkpointable:\n%s", st.reasons())
			}
			h.w.Close()
			if code := h.wait(10 * time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// A sticky taint (keyrings: nothing in /proc shows them) lasts.
func TestNOCRStickyTaint(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	h := startHold(t, "--", b, "keyctl", "hold")
	h.step("RELEASED")
	st := h.status()
	if st.Checkpointable || len(st.Reasons) != 1 || !st.Reasons[0].Sticky || st.Reasons[0].Source != "trap" {
		t.Fatalf("want one sticky keyring taint:\n%s", st.reasons())
	}
}

func TestNOCRDenyPolicy(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	for _, tc := range []struct{ mode, errno string }{
		{"socket_inet", "EACCES"}, {"io_uring", "ENOSYS"},
		{"unshare", "EPERM"}, {"perf", "EACCES"}, {"userfaultfd", "EPERM"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := startHold(t, "--on-nocr=deny", "--", b, tc.mode, "hold")
			if !strings.Contains(h.stdout.String(), "errno="+tc.errno) {
				t.Fatalf("want the call to fail with %s: %q", tc.errno, h.stdout)
			}
			st := h.status()
			if !st.Checkpointable || len(st.Denied) != 1 || st.OnNOCR != "deny" {
				t.Fatalf("deny keeps the app checkpointable and lists the denial: %+v\n%s", st, st.reasons())
			}
			h.w.Close()
			if code := h.wait(10 * time.Second); code != 0 {
				t.Fatalf("the app should carry on and exit 0, got %d", code)
			}
			if !strings.Contains(h.stderr.String(), "denied ") {
				t.Errorf("no deny log line: %s", h.stderr)
			}
		})
	}
}

func TestNOCRKillPolicy(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	r, w, _ := os.Pipe()
	defer w.Close()
	a := start(t, opts{stdin: r}, "--on-nocr=kill", "--", b, "socket_inet", "hold")
	r.Close()
	code := a.wait(20 * time.Second)
	out, stderr := a.stdout.String(), a.stderr.String()
	if code != 125 || strings.Contains(out, "RELEASED") {
		t.Fatalf("want the app ended and exit 125: code %d out %q", code, out)
	}
	if !strings.Contains(stderr, "--on-nocr=kill") || !strings.Contains(stderr, "CR: socket(AF_INET, UDP-Lite) not supported yet") {
		t.Fatalf("message: %s", stderr)
	}
}

func TestStatus(t *testing.T) {
	requireRoot(t)
	b := compileC(t, "nocr", false)
	rt := runtimeDir(t)
	r, w, _ := os.Pipe()
	defer w.Close()
	a1 := start(t, opts{runtimeDir: rt, stdin: r}, "--", b, "socket_inet", "hold")
	a2 := start(t, opts{runtimeDir: rt}, "--", "sleep", "30")
	r.Close()
	a1.waitOutput("HOLDING", 10*time.Second)
	a2.status()

	// one supervisor, JSON
	st := a1.status()
	if st.SupervisorPid != a1.cmd.Process.Pid || st.Command[0] != b || st.Checkpointable ||
		len(st.Processes) != 1 || st.Processes[0].NsPid < 2 || st.Processes[0].Comm != "nocr" {
		t.Fatalf("status: %+v", st)
	}
	rs := st.Reasons[0]
	if rs.Reason != "CR: socket(AF_INET, UDP-Lite) not supported yet (fd 3)" || rs.Pid != st.Processes[0].Pid ||
		rs.Tid != rs.Pid || rs.Comm != "nocr" || !strings.HasPrefix(rs.Syscall, "socket(AF_INET") || rs.Fd == nil || *rs.Fd != 3 {
		t.Fatalf("reason: %+v", rs)
	}
	// the required keys, as raw JSON
	out, err := a1.crrunCmd("status", "--json", fmt.Sprint(a1.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"supervisor_pid", "command", "checkpointable", "reasons", "processes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
	// all supervisors: a list
	out, err = a1.crrunCmd("status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var all []Status
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 2 {
		t.Fatalf("status --json without pid: want a list of 2: %v\n%s", err, out)
	}
	// text
	out, err = a1.crrunCmd("status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("crrun %d: %s socket_inet hold", a1.cmd.Process.Pid, b),
		fmt.Sprintf("crrun %d: sleep 30", a2.cmd.Process.Pid),
		"checkpointable: no (1 reason)", "CR: socket(AF_INET, UDP-Lite) not supported yet (fd 3)",
		"checkpointable: yes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	// the socket is the supervisor's only, 0600
	fi, err := os.Stat(fmt.Sprintf("%s/%d.sock", rt, a1.cmd.Process.Pid))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket: %v mode %v", err, fi.Mode())
	}
	a2.cmd.Process.Signal(syscall.SIGTERM)
	a2.wait(10 * time.Second)
	if _, err := os.Stat(fmt.Sprintf("%s/%d.sock", rt, a2.cmd.Process.Pid)); !os.IsNotExist(err) {
		t.Errorf("control socket left behind after exit: %v", err)
	}
}

// A client of another uid is refused by the control socket; crrun status
// as another uid does not even talk to a socket in a directory not its own.
func TestStatusPeerCredentials(t *testing.T) {
	requireRoot(t)
	a := start(t, opts{}, "--", "sleep", "30")
	a.status()
	sock := fmt.Sprintf("%s/%d.sock", a.runtime, a.cmd.Process.Pid)
	os.Chmod(a.runtime, 0o755)
	os.Chmod(sock, 0o666) // let the socket's mode not be the barrier: the credential check must be
	cmd := execAs(65534, crrunBin, "status", "--json", fmt.Sprint(a.cmd.Process.Pid))
	cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+a.runtime)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), a.runtime+" belongs to uid 0, not to you (uid 65534)") {
		t.Fatalf("crrun status as uid 65534 in root's runtime dir: %v %s", err, out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 77 {
		t.Errorf("crrun status refused: %v, want exit 77", err)
	}
	// The server's own check, for a client that asks anyway; the client
	// would exit with the code it names (77).
	answer, err := askAs(65534, sock, `{"op":"status"}`)
	if err != nil || !strings.Contains(answer, "permission denied") || !strings.Contains(answer, `"code":77`) {
		t.Fatalf("uid 65534 got: %v %s", err, answer)
	}
}
