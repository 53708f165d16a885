package seccomp

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/crrun/crrun/internal/gendoc"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the generated table in docs/nocr.md")

func condString(e Entry) string {
	if e.HostIPC {
		e.HostIPC = false
		return condString(e) + ", with `--ipc=host`"
	}
	if e.Rules == nil {
		return "always"
	}
	var ors []string
	for _, r := range e.Rules {
		var ands []string
		for _, c := range r {
			switch c.Op {
			case OpEq:
				ands = append(ands, fmt.Sprintf("arg%d == %#x", c.Arg, c.Val))
			case OpNe:
				ands = append(ands, fmt.Sprintf("arg%d != %#x", c.Arg, c.Val))
			case OpMaskedEq:
				if c.Val == c.Mask {
					ands = append(ands, fmt.Sprintf("arg%d & %#x", c.Arg, c.Mask))
				} else {
					ands = append(ands, fmt.Sprintf("arg%d & %#x == %#x", c.Arg, c.Mask, c.Val))
				}
			}
		}
		ors = append(ors, strings.Join(ands, " && "))
	}
	return strings.Join(ors, " or ")
}

func renderTable() string {
	var b strings.Builder
	b.WriteString("| syscall | traps when (x86_64) | kind | lasts | `--on-nocr=deny` returns | why that errno |\n|---|---|---|---|---|---|\n")
	for _, e := range Table {
		lasts := e.Scope.String()
		if e.Lasts != "" {
			lasts = e.Lasts
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", e.Syscall, condString(e), e.Kind, lasts,
			unix.ErrnoName(e.DenyErrno), e.Why)
	}
	return b.String()
}

// docs/nocr.md carries the table generated from Table; this test keeps them
// in step (go test ./seccomp -run TestDocsTable -update rewrites it).
func TestDocsTable(t *testing.T) {
	gendoc.Check(t, "../docs/nocr.md", "table", renderTable(), *update, "go test ./seccomp -run TestDocsTable -update")
}
