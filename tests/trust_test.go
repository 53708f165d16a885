package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Restore never grants more than it should (issue 9 item 4): an image is
// code, so whose it is matters; files are identified by more than size and
// mtime; the control socket of another user is not believed.

// trustCounterCopy copies the counter victim into a directory of its own
// and returns the copy and the directory.
func trustCounterCopy(t *testing.T) (exe, dir string) {
	t.Helper()
	dir = t.TempDir()
	exe = filepath.Join(dir, "counter")
	orig, err := os.ReadFile(compileCR(t, "counter", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe, dir
}

// trustCounterImage checkpoints (--exit) the counter victim run from a copy
// of its executable in a directory of its own, and returns that copy, the
// image and its store.
func trustCounterImage(t *testing.T) (exe, img, store string) {
	t.Helper()
	requireCR(t)
	exe, dir := trustCounterCopy(t)
	img, store, _ = crImageFor(t, "counter", "running", 300*time.Millisecond, exe, strconv.Itoa(3*crCounterIters), "8", dir)
	return exe, img, store
}

// rewriteKeepTimes writes b over path in place (same inode, same size) and
// puts its mtime back, as `touch -r` would.
func rewriteKeepTimes(t *testing.T, path string, b []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

func trustRestorePasses(t *testing.T, args ...string) {
	t.Helper()
	r := start(t, opts{}, append([]string{"restore"}, args...)...)
	if code := r.wait(2 * time.Minute); code != 0 || !crPassed(r.stdout.String()) {
		t.Fatalf("crrun restore %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	}
}

// TestTrustPatchedExecutable: the executable patched in place, its size and
// mtime kept (touch -r), is refused naming the file and the field; put back
// byte for byte, it restores.
func TestTrustPatchedExecutable(t *testing.T) {
	exe, img, _ := trustCounterImage(t)
	orig, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	patched := append([]byte(nil), orig...)
	patched[len(patched)/2] ^= 0xff
	rewriteKeepTimes(t, exe, patched)
	patchedRE := regexp.MustCompile(`the executable ` + regexp.QuoteMeta(exe) + `: changed since the checkpoint: its content \(sha256`)
	crRestoreFails(t, patchedRE, img)
	crRestoreFails(t, patchedRE, "--check", img) // the check refuses as the restore does
	rewriteKeepTimes(t, exe, orig)
	trustRestorePasses(t, img)
}

// TestTrustForeignImage: root restoring an image another uid owns, or that
// its group may write, refuses naming the path and the owner, unless
// --trust-image; and even then the image's credentials must be its
// owner's (nobody's image cannot say uid 0).
func TestTrustForeignImage(t *testing.T) {
	_, img, _ := trustCounterImage(t)

	nobodys := filepath.Join(t.TempDir(), "gen-000001")
	crCopyDir(t, img, nobodys)
	if out, err := exec.Command("chown", "-R", "65534:65534", nobodys).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(nobodys)+`.* belongs to uid 65534 \(nobody\), not to you \(uid 0, root\).*--trust-image`), nobodys)
	crRestoreFails(t, regexp.MustCompile(`the image gives it uid 0, but the image belongs to uid 65534`), "--trust-image", nobodys)

	groupw := filepath.Join(t.TempDir(), "gen-000001")
	crCopyDir(t, img, groupw)
	meta := filepath.Join(groupw, "image.json")
	if err := os.Chmod(meta, 0o660); err != nil {
		t.Fatal(err)
	}
	crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(meta)+` is yours but writable by its group`), groupw)
	trustRestorePasses(t, "--trust-image", groupw)

	// An ordinary user restoring root's image (readable to them) likewise.
	dir, asNobody := nobodyEnv(t)
	roots := filepath.Join(dir, "gen-000001")
	crCopyDir(t, img, roots)
	filepath.Walk(roots, func(path string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(path, fi.Mode().Perm()|0o444|map[bool]os.FileMode{true: 0o111}[fi.IsDir()])
		}
		return nil
	})
	out, err := asNobody("restore", roots).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 ||
		!strings.Contains(string(out), roots+" belongs to uid 0 (root), not to you (uid 65534, nobody)") {
		t.Fatalf("nobody restoring root's image: %v\n%s", err, out)
	}
}

// TestTrustResumeStore: --resume=auto with a store others may write refuses
// naming it, unless --trust-image.
func TestTrustResumeStore(t *testing.T) {
	exe, _, store := trustCounterImage(t)
	if err := os.Chmod(store, 0o777); err != nil {
		t.Fatal(err)
	}
	argv := []string{"--", exe, strconv.Itoa(3 * crCounterIters), "8", filepath.Dir(exe)} // the command trustCounterImage checkpointed
	a := start(t, opts{}, append([]string{"--dir", store}, argv...)...)
	if code := a.wait(time.Minute); code != 125 {
		t.Fatalf("resume from a world-writable store: exit %d, want 125\n%s", code, a.stderr)
	}
	if line := crLastLine(a.stderr.String()); !strings.Contains(line, store) || !strings.Contains(line, "writable by everyone") {
		t.Fatalf("the refusal does not name the store and why: %q", line)
	}
	if a.stdout.String() != "" {
		t.Fatalf("the app ran: %q", a.stdout)
	}
	b := start(t, opts{}, append([]string{"--dir", store, "--trust-image"}, argv...)...)
	if code := b.wait(2 * time.Minute); code != 0 || !crPassed(b.stdout.String()) || !strings.Contains(b.stderr.String(), "resuming from") {
		t.Fatalf("resume with --trust-image: exit %d\nstdout:\n%s\nstderr:\n%s", code, b.stdout, b.stderr)
	}
}

// TestTrustUserImageFiles: root restoring nobody's image (--trust-image)
// checks every file the restore opens for the app with nobody's
// credentials: a file nobody held open, made root's alone since, is
// refused, naming it.
func TestTrustUserImageFiles(t *testing.T) {
	requireCR(t)
	dir, asNobody := nobodyEnv(t)
	if err := os.MkdirAll(filepath.Join(workDir, "trust"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(compileC(t, "trust/holdfile", false))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "holdfile")
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("nobody's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(secret, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck")
	app := asNobody("--dir", ck, "--", exe, secret)
	_, appErr, done := startCmd(t, app)
	if err := eventually(20*time.Second, func() bool { return strings.Contains(appErr.String(), "holdfile: running") }); err != nil {
		t.Fatalf("no progress: %s", appErr.String())
	}
	if out, err := asNobody("checkpoint", "--exit").CombinedOutput(); err != nil {
		t.Fatalf("checkpoint as nobody: %v\n%s\n%s", err, out, appErr.String())
	}
	<-done

	// The file becomes root's alone: its content is the same (the hash
	// proves it), but nobody could not open it now.
	if err := os.Chown(secret, 0, 0); err != nil {
		t.Fatal(err)
	}
	crRestoreFails(t, regexp.MustCompile(regexp.QuoteMeta(ck)+` belongs to uid 65534 \(nobody\)`), ck)
	crRestoreFails(t, regexp.MustCompile(`the file of fd 3 `+regexp.QuoteMeta(secret)+`: the app's credentials \(uid 65534, gid 65534.*do not allow reading`),
		"--trust-image", ck)
	// Given back to nobody, the same image restores (as nobody: the
	// image's credentials) and reads its file.
	if err := os.Chown(secret, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r := start(t, opts{}, "restore", "--trust-image", ck)
	code := r.wait(time.Minute)
	if bnd, _ := os.ReadFile("/proc/self/status"); code != 0 && !strings.Contains(string(bnd), "CapBnd:\t000001ffffffffff") &&
		strings.Contains(r.stderr.String(), "CapBnd (credentials): saved \"000001ffffffffff\"") {
		// nobody's app had a user namespace's full bounding set; this
		// root has a smaller one and cannot give the app more: the
		// verifier refuses, naming it (the right answer here).
		t.Skipf("root's own bounding set is not full on this machine, so a restore cannot give nobody's app its user namespace's full one; refused:\n%s", r.stderr)
	}
	if code != 0 || r.stdout.String() != "read: nobody's own\nPASS\n" {
		t.Fatalf("root restoring nobody's image with --trust-image: exit %d\nstdout:\n%s\nstderr:\n%s", code, r.stdout, r.stderr)
	}
}

// TestTrustRuntimeDir: crrun status and checkpoint refuse a runtime
// directory or a control socket that is not the user's: another user could
// answer for a crrun.
func TestTrustRuntimeDir(t *testing.T) {
	requireRoot(t)
	client := func(rt string, args ...string) (string, error) {
		cmd := exec.Command(crrunBin, args...)
		cmd.Env = append(os.Environ(), "CRRUN_RUNTIME_DIR="+rt)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	a := start(t, opts{}, "--", "sleep", "30")
	a.status()
	pid := fmt.Sprint(a.cmd.Process.Pid)
	t.Run("directory of another uid", func(t *testing.T) {
		if err := os.Chown(a.runtime, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		defer os.Chown(a.runtime, 0, 0)
		for _, args := range [][]string{{"status"}, {"status", pid}, {"checkpoint", pid}, {"checkpoint"}} {
			out, err := client(a.runtime, args...)
			if err == nil || !strings.Contains(out, a.runtime+" belongs to uid 65534") {
				t.Fatalf("crrun %v in a runtime dir of uid 65534: %v\n%s", args, err, out)
			}
		}
	})
	t.Run("directory writable by others", func(t *testing.T) {
		os.Chmod(a.runtime, 0o777)
		defer os.Chmod(a.runtime, 0o700)
		out, err := client(a.runtime, "status", pid)
		if err == nil || !strings.Contains(out, "writable by others") {
			t.Fatalf("crrun status in a world-writable runtime dir: %v\n%s", err, out)
		}
	})
	t.Run("socket planted by another uid", func(t *testing.T) {
		rt := runtimeDir(t)
		path := filepath.Join(rt, "4242.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() { // an impostor that would answer anything
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, `{"status":{"pid":4242}}`)
				c.Close()
			}
		}()
		if err := os.Lchown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		out, err := client(rt, "status", "4242")
		if err == nil || !strings.Contains(out, path+" belongs to uid 65534") {
			t.Fatalf("crrun status with a socket of uid 65534: %v\n%s", err, out)
		}
	})
	if out, err := client(a.runtime, "status", pid); err != nil {
		t.Fatalf("crrun status with everything put back: %v\n%s", err, out)
	}
}

// askAs sends one control request to the socket at path from a thread
// holding uid (the thread dies afterwards) and returns the answer.
func askAs(uid int, path, req string) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with its uid
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
			ch <- result{err: e}
			return
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer c.Close()
		fmt.Fprintln(c, req)
		line, err := bufio.NewReader(c).ReadString('\n')
		ch <- result{line, err}
	}()
	r := <-ch
	return r.s, r.err
}

// trustLiveCounter runs a copy of the counter of its own under `crrun
// --dir store`, long enough (5 × crCounterIters, ~15 s) to outlast what a
// test does beside it, takes a checkpoint that leaves it running, and
// returns the app, the copy's path, its argv after "--", its pid and the
// image.
func trustLiveCounter(t *testing.T, store string) (a *app, exe string, argv []string, pid int, img string) {
	t.Helper()
	exe, dir := trustCounterCopy(t)
	argv = []string{exe, strconv.Itoa(5 * crCounterIters), "8", dir}
	a = start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	crWaitStderr(t, a, "counter: running", time.Minute)
	pid = crVictimPid(t, a.stderr.String(), "counter", false)
	crRequireCheckpointable(t, crStatus(t, a, time.Minute), pid)
	img = crCheckpoint(t, a, store, false) // the app runs on
	return a, exe, argv, pid, img
}

// trustEndLive kills a's crrun and waits until no process runs exe (the
// init dies with its crrun, by PDEATHSIG, and takes the app along).
func trustEndLive(t *testing.T, a *app, exe string) {
	t.Helper()
	a.cmd.Process.Kill()
	a.wait(time.Minute)
	if err := eventually(15*time.Second, func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && l == exe {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("the app (%s) still runs after its crrun was killed", exe)
	}
}

// TestTrustLiveCopy: restoring an image while the app it was taken from
// still runs under crrun (same pids, same executable) is refused before
// anything on the host changes, naming the pid and the crrun that runs the
// copy; once that app has ended, the same image restores and verifies.
func TestTrustLiveCopy(t *testing.T) {
	requireCR(t)
	t.Parallel() // its copy of the counter is its own: no other test's app matches it
	a, exe, _, pid, img := trustLiveCounter(t, t.TempDir())
	want := fmt.Sprintf(`pid %d of the image runs %s, and so does pid %d of another app under crrun on this host \(crrun pid %d; host pid \d+\), still there after 3s: it is this app again.*End that app first`,
		pid, regexp.QuoteMeta(exe), pid, a.cmd.Process.Pid)
	crRestoreFails(t, regexp.MustCompile(want), img)
	if crExited(a) {
		t.Fatalf("the running app ended during the refused restore\n%s", a.stderr)
	}
	trustEndLive(t, a, exe)
	trustRestorePasses(t, img)
}

// TestTrustStoreInUse: a checkpoint directory is one app's while its crrun
// lives. A second app given the same --dir has its checkpoint refused,
// naming the first crrun, and writes nothing there; a third resuming from
// it (--resume=auto, the same command) is refused before it restores
// anything. Once the first crrun has ended, the same command resumes from
// its generation and verifies.
func TestTrustStoreInUse(t *testing.T) {
	requireCR(t)
	t.Parallel()
	store := t.TempDir()
	a, exe, argv, _, img := trustLiveCounter(t, store)
	holder := regexp.QuoteMeta(fmt.Sprintf("checkpoint directory %s is in use by another crrun (crrun pid %d on host ", store, a.cmd.Process.Pid))

	b := start(t, opts{}, "--dir", store, "--resume=never", "--", "sleep", "60")
	crStatus(t, b, time.Minute)
	code, out, errs := crClient(t, b.runtime, time.Minute, "checkpoint", strconv.Itoa(b.cmd.Process.Pid))
	if code == 0 || !regexp.MustCompile(holder).MatchString(errs) {
		t.Fatalf("checkpoint of a second app into the same --dir: exit %d, want a refusal naming crrun %d\nstdout: %s\nstderr: %s",
			code, a.cmd.Process.Pid, out, errs)
	}
	if gens := crGenerations(t, store); len(gens) != 1 || gens[0] != filepath.Base(img) {
		t.Fatalf("the store holds %v after the refused checkpoint, want only %s", gens, img)
	}

	c := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	if code := c.wait(time.Minute); code != 125 || !regexp.MustCompile(`crrun: resume: `+holder).MatchString(crLastLine(c.stderr.String())) {
		t.Fatalf("resume from a store in use: exit %d, want 125 naming crrun %d\nstdout:\n%s\nstderr:\n%s", code, a.cmd.Process.Pid, c.stdout, c.stderr)
	}
	if c.stdout.String() != "" {
		t.Errorf("the app ran (stdout %q) although the resume was refused", c.stdout)
	}
	if crExited(a) {
		t.Fatalf("the first app ended meanwhile\n%s", a.stderr)
	}

	trustEndLive(t, a, exe)
	d := start(t, opts{}, append([]string{"--dir", store, "--"}, argv...)...)
	if code := d.wait(2 * time.Minute); code != 0 || !crPassed(d.stdout.String()) || !strings.Contains(d.stderr.String(), "resuming from "+img) {
		t.Fatalf("resume once the first crrun ended: exit %d\nstdout:\n%s\nstderr:\n%s", code, d.stdout, d.stderr)
	}
}

// TestTrustCPUFeatures: an image records its CPU's features; restored where
// the CPU lacks an instruction-set extension the image's had (this
// machine's image, edited to claim one it lacks), the restore is refused
// naming the extension, before the app runs.
func TestTrustCPUFeatures(t *testing.T) {
	_, img, _ := trustCounterImage(t)
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	here := map[string]bool{}
	if m := regexp.MustCompile(`(?m)^flags\s*:(.*)$`).FindSubmatch(b); m != nil {
		for _, f := range strings.Fields(string(m[1])) {
			here[f] = true
		}
	}
	mb, err := os.ReadFile(filepath.Join(img, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	meta := crDecodeJSON(t, mb)
	cpu, _ := meta["cpu"].(map[string]any)
	flags, _ := cpu["flags"].([]any)
	if len(flags) != len(here) {
		t.Fatalf("image.json cpu = %v, want this machine's %d flags", meta["cpu"], len(here))
	}
	var lacking string
	for _, f := range []string{"avx512f", "amx_tile", "avx512_fp16", "sm4", "xop", "fma4", "tbm"} {
		if !here[f] {
			lacking = f
			break
		}
	}
	if lacking == "" {
		t.Skip("this CPU has every extension the test could claim it lacks")
	}
	edited := filepath.Join(t.TempDir(), "gen-000001")
	crRewriteImage(t, img, edited, func(name string, b []byte) (string, []byte) {
		if name != "image.json" {
			return name, b
		}
		m := crDecodeJSON(t, b)
		c := m["cpu"].(map[string]any)
		c["flags"] = append(c["flags"].([]any), lacking)
		c["model"] = "a bigger CPU"
		return name, crEncodeJSON(t, m)
	})
	crRestoreFails(t, regexp.MustCompile(`this machine's CPU \(.*\) lacks `+lacking+`, which the checkpoint's \(a bigger CPU\) had: .*SIGILL`), edited)
}

// TestTrustLaunchAvoidsLivePids: a new app aimed (CRRUN_TEST_PID_BASE) at
// the pids of an app already running under another crrun (as a restored
// app, which keeps its saved pids, may be wherever its crrun's base would
// put it) starts its pids elsewhere, away from them.
func TestTrustLaunchAvoidsLivePids(t *testing.T) {
	requireCR(t)
	t.Parallel()
	exe, dir := trustCounterCopy(t)
	a := start(t, opts{}, "--dir", t.TempDir(), "--", exe, strconv.Itoa(5*crCounterIters), "8", dir)
	crWaitStderr(t, a, "counter: running", time.Minute)
	pid := crVictimPid(t, a.stderr.String(), "counter", false)
	b := start(t, opts{env: []string{fmt.Sprintf("CRRUN_TEST_PID_BASE=%d", pid)}}, "--", "sh", "-c", `echo "pid=$$"; sleep 30`)
	var got int
	if err := eventually(time.Minute, func() bool {
		m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(b.stdout.String())
		if m != nil {
			got, _ = strconv.Atoi(m[1])
		}
		return m != nil
	}); err != nil {
		t.Fatalf("the second app never said its pid\nstderr:\n%s", b.stderr)
	}
	if got >= pid-100 && got < pid+1000 {
		t.Fatalf("the second app's pid is %d, within the first app's pids (from %d): its pids should have started elsewhere", got, pid)
	}
	t.Logf("first app's pid %d, second app's %d", pid, got)
}
