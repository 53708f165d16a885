package procfs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// statTail is everything after the comm of a real stat line, with ppid 4242,
// pgrp 4243, session 4244, tty_nr 34816, tpgid -1, 7 threads, starttime 30188,
// exit_signal 17 and exit_code 256.
const statTail = " S 4242 4243 4244 34816 -1 4194304 100 0 0 0 3 4 -5 -6 20 -2 7 0 30188 3133440 381 18446744073709551615 93917464256512 93917464276393 140732177752352 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 93917464292400 93917464294016 93917541896192 140732177758913 140732177758933 140732177758933 140732177760235 256\n"

func statLine(pid int, comm string) []byte {
	return []byte(fmt.Sprintf("%d (%s)%s", pid, comm, statTail))
}

func checkStat(t *testing.T, s *ProcStat, pid int, comm string) {
	t.Helper()
	want := ProcStat{
		Pid: pid, Comm: comm, State: 'S', PPid: 4242, Pgrp: 4243, Session: 4244, TtyNr: 34816,
		Tpgid: -1, Flags: 4194304, MinFlt: 100, Utime: 3, Stime: 4, CUtime: -5, CStime: -6,
		Priority: 20, Nice: -2, NumThreads: 7, StartTime: 30188, VSize: 3133440, RSS: 381,
		RSSLim: 18446744073709551615, StartCode: 93917464256512, EndCode: 93917464276393,
		StartStack: 140732177752352, ExitSignal: 17, Processor: 1,
		StartData: 93917464292400, EndData: 93917464294016, StartBrk: 93917541896192,
		ArgStart: 140732177758913, ArgEnd: 140732177758933, EnvStart: 140732177758933,
		EnvEnd: 140732177760235, ExitCode: 256,
	}
	if *s != want {
		t.Errorf("parsed\n%+v\nwant\n%+v", *s, want)
	}
}

// TestParseStatNastyComm feeds comms a program can set with PR_SET_NAME (any
// bytes but NUL, up to 15) or get from its executable's name.
func TestParseStatNastyComm(t *testing.T) {
	for _, comm := range []string{
		"cat", "a b", "a) (b", ")", "(", "()", ")(", "))", "((", " ", "",
		"x) R 1 2 3 4 5", "a\nb", "\n", ") S 1", "tab\there", "((((((((((((((((",
		"))))))))))))))))", "ümlaut", "a) (b) (c", "-1", "1 (2) 3",
	} {
		t.Run(fmt.Sprintf("%q", comm), func(t *testing.T) {
			s, err := parseStat("stat", statLine(123, comm))
			if err != nil {
				t.Fatal(err)
			}
			checkStat(t, s, 123, comm)
		})
	}
	if tty := (&ProcStat{TtyNr: 34816}).TTY(); tty != (Dev{136, 0}) {
		t.Errorf("tty 34816 = %v, want 136:0 (/dev/pts/0)", tty)
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, bad := range []string{
		"",
		"\n",
		"123 cat S 1",
		"123 (cat",
		"(cat)" + statTail,
		"x (cat)" + statTail,
		"123 (cat) S 1 2 3\n",
		"123 (cat)" + strings.Replace(statTail, " 4242 ", " 42a2 ", 1),
		"123 (cat)" + strings.Replace(statTail, " S ", " SS ", 1),
		"123 (cat)" + strings.Replace(statTail, " 93917464256512 ", " -93917464256512 ", 1),
		"123 (cat)" + strings.Replace(statTail, " 18446744073709551615 ", " 18446744073709551616 ", 1),
		"123 (cat)" + strings.TrimSuffix(statTail, " 256\n"),
	} {
		_, err := parseStat("/proc/123/stat", []byte(bad))
		var pe *ParseError
		if !errors.Is(err, ErrMalformed) || !errors.As(err, &pe) || pe.Path != "/proc/123/stat" {
			t.Errorf("parseStat(%q) = %v, want a ParseError", bad, err)
		}
	}
	// Fields a future kernel appends are ignored.
	s, err := parseStat("stat", []byte("123 (cat)"+strings.TrimSuffix(statTail, "\n")+" 99 98\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkStat(t, s, 123, "cat")
}

// FuzzParseStat: whatever the comm, the fields after it are found. Under plain
// `go test` only the seeds run.
func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"cat", "a) (b", ")", "x) R 1 2 3", "\n)\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, comm string) {
		if strings.IndexByte(comm, 0) >= 0 || len(comm) > 64 {
			t.Skip()
		}
		s, err := parseStat("stat", statLine(77, comm))
		if err != nil {
			t.Fatal(err)
		}
		checkStat(t, s, 77, comm)
		// Arbitrary input must never panic.
		parseStat("stat", []byte(comm))
	})
}
