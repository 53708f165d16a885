package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/nfhold"
	"github.com/crrun/crrun/supervisor"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newInspectCmd() *cobra.Command {
	var asJSON, verify bool
	c := &cobra.Command{
		Use:   "inspect [--json] DIR",
		Short: "Show a checkpoint image: when and why, processes, threads, memory, fds",
		Long: `Prints a checkpoint image for people, or with --json for programs. DIR is a
generation directory or a store (its newest valid generation). --verify also
checks every page checksum, and decompresses every compressed extent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, _ := filepath.Abs(args[0])
			r, _, err := image.OpenPath(dir, verify)
			if err != nil {
				return err
			}
			defer r.Close()
			if verify {
				if err := r.VerifyAll(); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(inspectJSON(r))
			}
			printImage(out, r)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&verify, "verify", false, "verify every page checksum too, and that every compressed extent decompresses to its checksum")
	return c
}

// inspectJSON is what --json prints.
func inspectJSON(r *image.Reader) any {
	return struct {
		Dir       string           `json:"dir"`
		Meta      *image.Meta      `json:"meta"`
		Processes []*image.Process `json:"processes"`
		Chain     []chainLink      `json:"chain,omitempty"`
	}{r.Dir(), r.Meta(), r.Processes(), chainOf(r)}
}

// chainLink is one generation an incremental image's memory is in: the
// image itself first, then the parents it needs.
type chainLink struct {
	Gen         string `json:"gen"`
	MemoryBytes uint64 `json:"memory_bytes"` // memory of the image in this generation's page files
	FileBytes   int64  `json:"file_bytes"`   // the size of those page files (what this generation owns on disk)
}

// chainOf returns the chain of an incremental image (nil for a full one).
func chainOf(r *image.Reader) []chainLink {
	if len(r.Parents()) == 0 {
		return nil
	}
	own, byGen := r.OwnBytes()
	self := chainLink{Gen: filepath.Base(r.Dir()), MemoryBytes: own}
	for _, f := range r.Manifest().Files {
		if strings.HasPrefix(f.Name, "pages-") {
			self.FileBytes += f.Size
		}
	}
	out := []chainLink{self}
	for _, g := range r.NeededGenerations() {
		l := chainLink{Gen: g, MemoryBytes: byGen[g]}
		for _, p := range r.Parents() {
			if p.Gen == g {
				l.FileBytes += p.Size
			}
		}
		out = append(out, l)
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Gen > out[1+j].Gen })
	return out
}

func mib(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%dK", n>>10)
}

func printImage(w io.Writer, r *image.Reader) {
	m := r.Meta()
	fmt.Fprintf(w, "image %s\n", r.Dir())
	fmt.Fprintf(w, "  taken     %s (%s ago)\n", m.Created.Local().Format("2006-01-02 15:04:05 MST"), time.Since(m.Created).Round(time.Second))
	fmt.Fprintf(w, "  why       %s (%s)\n", m.Reason, m.Trigger)
	fmt.Fprintf(w, "  command   %s\n", supervisor.QuoteCommand(m.Argv))
	fmt.Fprintf(w, "  by        crrun %s on %s, kernel %s\n", m.CrrunVersion, m.Hostname, m.Kernel.Release)
	if c := m.CPU; c != nil {
		// What a restore compares (restore/cpu.go): the model is for
		// people, the flags decide.
		fmt.Fprintf(w, "  cpu       %s, %d feature flags\n", orDash(c.Model), len(c.Flags))
	}
	if len(m.EnvAffinity) > 0 {
		fmt.Fprintf(w, "  affinity  %s, the environment's (threads that kept it get the restore's)\n", image.CPUList(m.EnvAffinity))
	}
	if c := m.Clocks; c != nil {
		where := "in a time namespace of its own"
		if !c.TimeNS {
			where = "the host's (no time namespace)"
		}
		fmt.Fprintf(w, "  clocks    monotonic %v, boottime %v, %s\n", time.Duration(c.Monotonic).Round(time.Millisecond),
			time.Duration(c.Boottime).Round(time.Millisecond), where)
	}
	if chain := chainOf(r); chain != nil {
		fmt.Fprintf(w, "  chain     incremental: memory in %d generations (newest first)\n", len(chain))
		for i, l := range chain {
			what := "its own page files"
			if i > 0 {
				what = "page files it needs"
			}
			fmt.Fprintf(w, "            %s: %s of memory, %s of %s\n", l.Gen, mib(l.MemoryBytes), mib(uint64(l.FileBytes)), what)
		}
	}
	if me := m.MainExit; me != nil {
		how := fmt.Sprintf("exited %d", me.Code)
		if me.Signal != 0 {
			how = "been killed by " + unix.SignalName(syscall.Signal(me.Signal))
		}
		fmt.Fprintf(w, "  main      process %d had %s; the rest ran on (crrun exits so when it ends)\n", m.Root, how)
	}
	// How many fds share each open file description, across the tree.
	ofds := map[int]int{}
	for _, p := range r.Processes() {
		for _, f := range p.FDs {
			if f.OFD > 0 {
				ofds[f.OFD]++
			}
		}
	}
	for _, p := range r.Processes() {
		var saved uint64
		for _, e := range r.Extents(p.PID) {
			saved += e.Length
		}
		ids := fmt.Sprintf("parent %d, group %d, session %d", p.PPID, p.PGID, p.SID)
		if p.SID == 0 {
			ids = fmt.Sprintf("parent %d, group %d, crrun's session", p.PPID, p.PGID)
		}
		if p.Zombie != nil {
			st := unix.WaitStatus(p.Zombie.Status)
			how := fmt.Sprintf("exited %d", st.ExitStatus())
			if st.Signaled() {
				how = "killed by " + unix.SignalName(st.Signal())
			}
			fmt.Fprintf(w, "\nprocess %d (%s), %s: a zombie (%s), not reaped yet\n", p.PID, p.Comm, ids, how)
			continue
		}
		fmt.Fprintf(w, "\nprocess %d (%s), %s, exe %s\n", p.PID, p.Comm, ids, p.Exe.Path)
		fmt.Fprintf(w, "  cwd %s, umask %s, %d threads, %s of memory saved\n", p.Cwd, p.Umask, len(p.Threads), mib(saved))
		for _, pt := range p.PosixTimers {
			fmt.Fprintf(w, "  POSIX timer %d: clock %d, signal %d, %s left, every %s\n", pt.ID, pt.Clock, pt.Signal,
				time.Duration(pt.ValueNS), time.Duration(pt.IntervalNS))
		}
		fmt.Fprintf(w, "  threads:\n")
		for _, t := range p.Threads {
			fmt.Fprintf(w, "    %-7d %-16s rip %#x rsp %#x sigmask %s\n", t.TID, t.Comm, uint64(t.Regs.Rip), uint64(t.Regs.Rsp), t.SigMask)
		}
		fmt.Fprintf(w, "  memory:\n")
		for _, v := range p.Memory {
			var s uint64
			for _, e := range r.ExtentsIn(p.PID, uint64(v.Start), uint64(v.End)) {
				s += e.Length
			}
			shared := "p"
			if v.Shared {
				shared = "s"
			}
			fmt.Fprintf(w, "    %012x-%012x %s%s %7s %7s saved  %-6s %s\n", uint64(v.Start), uint64(v.End), v.Prot, shared,
				mib(v.Size()), mib(s), v.Kind, v.Path)
		}
		fmt.Fprintf(w, "  fds:\n")
		for _, f := range p.FDs {
			what := f.Path
			if f.Stdio != nil {
				what = fmt.Sprintf("the restorer's %s (was %s)", stdioName(*f.Stdio), f.Path)
			}
			fmt.Fprintf(w, "    %3d %-8s flags %s pos %d  %s%s\n", f.FD, f.Kind, f.Flags, f.Pos, what, fdDetail(r, &f, ofds))
		}
	}
}

// stdioName names stdio fd n (the reader has checked it is 0, 1 or 2;
// inspect prints whatever it is given without trusting that).
func stdioName(n int) string {
	if n >= 0 && n < 3 {
		return []string{"stdin", "stdout", "stderr"}[n]
	}
	return fmt.Sprintf("fd %d", n)
}

// fdDetail says what an fd shares and carries, for people.
func fdDetail(r *image.Reader, f *image.FD, ofds map[int]int) string {
	var d []string
	if n := ofds[f.OFD]; n > 1 {
		d = append(d, fmt.Sprintf("description #%d shared by %d fds", f.OFD, n))
	}
	blobSize := func(name string) string {
		if b, err := r.OpenBlob(name); err == nil {
			defer b.Close()
			return fmt.Sprintf("%d bytes", b.Size())
		}
		return "?"
	}
	switch {
	case f.Pipe != nil && f.Pipe.Data != "":
		d = append(d, blobSize(f.Pipe.Data)+" buffered")
	case f.Socket != nil:
		s := f.Socket
		switch {
		case s.Listen:
			d = append(d, fmt.Sprintf("listening on %q", s.Name))
		case s.Peer != 0:
			d = append(d, fmt.Sprintf("peer socket:[%d]", s.Peer))
		}
		if s.Name != "" && !s.Listen {
			d = append(d, fmt.Sprintf("name %q", s.Name))
		}
		if s.Data != "" {
			d = append(d, blobSize(s.Data)+" queued")
		}
	case f.Netlink != nil:
		s := f.Netlink
		d = append(d, image.NetlinkProtoName(s.Protocol))
		if s.PortID != 0 {
			d = append(d, fmt.Sprintf("port id %d", int32(s.PortID)))
		} else {
			d = append(d, "not bound")
		}
		if len(s.Groups) > 0 {
			d = append(d, "groups "+image.NetlinkGroupList(s.Groups))
		}
	case f.Kind == image.FDPing && f.Inet != nil:
		s := f.Inet
		d = append(d, "ICMP ping")
		if s.Local != "" {
			d = append(d, "at "+s.Local)
		}
		if s.Peer != "" {
			d = append(d, "connected to "+s.Peer)
		}
	case f.Kind == image.FDPacket && f.Packet != nil:
		s := f.Packet
		d = append(d, fmt.Sprintf("packet, type %d, protocol %#04x", s.Type, s.Bound))
		if s.Ifindex != 0 {
			d = append(d, fmt.Sprintf("on %s (%d)", s.Ifname, s.Ifindex))
		}
	case f.Kind == image.FDRaw && f.Inet != nil:
		s := f.Inet
		d = append(d, fmt.Sprintf("raw, protocol %d", s.Protocol))
		if s.Local != "" {
			d = append(d, "at "+s.Local)
		}
		if s.Peer != "" {
			d = append(d, "connected to "+s.Peer)
		}
	case f.Inet != nil:
		s := f.Inet
		proto := "UDP"
		if s.Type == 1 { // SOCK_STREAM
			proto = "TCP"
		}
		switch {
		case s.Listen:
			d = append(d, fmt.Sprintf("%s listening on %s (backlog %d)", proto, s.Local, s.Backlog))
		case s.Peer != "":
			d = append(d, fmt.Sprintf("%s %s -> %s", proto, s.Local, s.Peer))
		case s.Local != "":
			d = append(d, fmt.Sprintf("%s bound to %s", proto, s.Local))
		default:
			d = append(d, proto+" unbound")
		}
		if c := s.Conn; c != nil {
			d = append(d, fmt.Sprintf("%d bytes received, %d to send (%d not sent yet)", c.RecvLen, c.SendLen, c.Unsent))
			if c.State != 0 {
				d = append(d, "state "+inetsock.TCPStateName(c.State))
			}
			if s.Accepting {
				d = append(d, "waiting to be accepted")
			}
			if c.Held != "" {
				d = append(d, "peer outside the app, its traffic held (nft table inet "+nfhold.TableName+", image "+c.Held+")")
			}
		}
		if n := len(s.Pending); n > 0 {
			d = append(d, fmt.Sprintf("%d connections waiting to be accepted", n))
		}
		if n := len(s.Datagrams); n > 0 {
			d = append(d, fmt.Sprintf("%d datagrams queued", n))
		}
	case f.Pidfd != nil:
		d = append(d, fmt.Sprintf("pid %d", f.Pidfd.Pid))
	case f.Inotify != nil:
		d = append(d, fmt.Sprintf("%d watches", len(f.Inotify.Watches)))
	case f.Timerfd != nil:
		d = append(d, fmt.Sprintf("%s left, every %s", time.Duration(f.Timerfd.ValueNS), time.Duration(f.Timerfd.IntervalNS)))
	}
	if len(d) == 0 {
		return ""
	}
	return "  (" + strings.Join(d, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
