package procfs

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Family is a socket address family (AF_*). Its String is the constant's name, as
// the NOCR reasons print it ("CR: socket(AF_INET) not supported yet").
type Family uint16

// FamilyUnknown is the zero Family: not a socket, or a family not identified.
const FamilyUnknown Family = 0

// Socket families this package names.
const (
	FamilyUnix      = Family(unix.AF_UNIX)
	FamilyInet      = Family(unix.AF_INET)
	FamilyInet6     = Family(unix.AF_INET6)
	FamilyNetlink   = Family(unix.AF_NETLINK)
	FamilyPacket    = Family(unix.AF_PACKET)
	FamilyKey       = Family(unix.AF_KEY)
	FamilyAlg       = Family(unix.AF_ALG)
	FamilyVsock     = Family(unix.AF_VSOCK)
	FamilyXDP       = Family(unix.AF_XDP)
	FamilyTIPC      = Family(unix.AF_TIPC)
	FamilyCAN       = Family(unix.AF_CAN)
	FamilyBluetooth = Family(unix.AF_BLUETOOTH)
	FamilyRDS       = Family(unix.AF_RDS)
	FamilySMC       = Family(unix.AF_SMC)
	FamilyQIPCRTR   = Family(unix.AF_QIPCRTR)
	FamilyMCTP      = Family(unix.AF_MCTP)
)

var familyNames = map[Family]string{
	FamilyUnix:      "AF_UNIX",
	FamilyInet:      "AF_INET",
	FamilyInet6:     "AF_INET6",
	FamilyNetlink:   "AF_NETLINK",
	FamilyPacket:    "AF_PACKET",
	FamilyKey:       "AF_KEY",
	FamilyAlg:       "AF_ALG",
	FamilyVsock:     "AF_VSOCK",
	FamilyXDP:       "AF_XDP",
	FamilyTIPC:      "AF_TIPC",
	FamilyCAN:       "AF_CAN",
	FamilyBluetooth: "AF_BLUETOOTH",
	FamilyRDS:       "AF_RDS",
	FamilySMC:       "AF_SMC",
	FamilyQIPCRTR:   "AF_QIPCRTR",
	FamilyMCTP:      "AF_MCTP",
}

// String returns "AF_INET", "AF_UNIX"…, "unknown" for FamilyUnknown, and
// "AF(n)" for a family without a name here.
func (f Family) String() string {
	if f == FamilyUnknown {
		return "unknown"
	}
	if s, ok := familyNames[f]; ok {
		return s
	}
	return "AF(" + strconv.Itoa(int(f)) + ")"
}

// familyFromProto maps a sockfs protocol name (struct proto.name, as the
// "system.sockprotoname" xattr shows it) to its family.
func familyFromProto(p string) Family {
	switch {
	case p == "":
		return FamilyUnknown
	case strings.HasPrefix(p, "UNIX"): // "UNIX" (dgram, seqpacket), "UNIX-STREAM"
		return FamilyUnix
	case strings.HasSuffix(p, "v6"): // TCPv6 UDPv6 RAWv6 PINGv6 MPTCPv6 UDPLITEv6 SCTPv6 L2TP/IPv6
		return FamilyInet6
	case strings.HasPrefix(p, "CAN_"):
		return FamilyCAN
	}
	switch p {
	case "TCP", "UDP", "RAW", "UDP-Lite", "PING", "MPTCP", "SCTP", "DCCP", "L2TP/IP":
		return FamilyInet
	case "NETLINK":
		return FamilyNetlink
	case "PACKET":
		return FamilyPacket
	case "KEY":
		return FamilyKey
	case "ALG":
		return FamilyAlg
	case "AF_VSOCK":
		return FamilyVsock
	case "XDP":
		return FamilyXDP
	case "TIPC":
		return FamilyTIPC
	case "RDS":
		return FamilyRDS
	case "SMC":
		return FamilySMC
	case "QIPCRTR":
		return FamilyQIPCRTR
	case "MCTP":
		return FamilyMCTP
	case "HCI", "L2CAP", "RFCOMM", "SCO", "ISO":
		return FamilyBluetooth
	}
	return FamilyUnknown
}

// Socket is one socket of a network namespace's /proc/net tables.
type Socket struct {
	Inode  uint64
	Family Family
	Table  string // the /proc/net file: "unix", "tcp", "udp6", "netlink"…
	// Type is the SOCK_* type for unix sockets (SOCK_STREAM, SOCK_DGRAM,
	// SOCK_SEQPACKET); 0 for the other tables, whose name implies it.
	Type int
	// State is the table's "St" column: TCP_* for tcp, SS_* for unix.
	State int
	// Path is a unix socket's bound name ("@name" for an abstract one).
	Path string
}

type netTable struct {
	name     string
	family   Family
	inodeCol int // 0-based column of the inode
	stateCol int // 0-based column of the state, -1 if none
}

// netTables lists the /proc/net files that name sockets, cheapest first. Reading
// tcp and tcp6 walks the kernel's whole TCP hash tables (about 5 ms each here,
// even when almost empty); the others take tens of microseconds. Sockets that
// were never bound or connected are in none of them: TCP, UDP and raw sockets are
// hashed into the tables by bind, listen or connect.
var netTables = []netTable{
	{"unix", FamilyUnix, 6, 5},
	{"netlink", FamilyNetlink, 9, -1},
	{"packet", FamilyPacket, 8, -1},
	{"udp", FamilyInet, 9, 3},
	{"udp6", FamilyInet6, 9, 3},
	{"raw", FamilyInet, 9, 3},
	{"raw6", FamilyInet6, 9, 3},
	{"icmp", FamilyInet, 9, 3},
	{"icmp6", FamilyInet6, 9, 3},
	{"udplite", FamilyInet, 9, 3},
	{"udplite6", FamilyInet6, 9, 3},
	{"tcp", FamilyInet, 9, 3},
	{"tcp6", FamilyInet6, 9, 3},
}

// scanNetTable calls fn for each socket of /proc/PID/net/NAME until fn returns
// false. A table the kernel does not provide (no IPv6, no packet sockets) is empty.
func (f FS) scanNetTable(pid int, t netTable, fn func(*Socket) bool) error {
	path := f.pidPath(pid, "net/"+t.name)
	bp, n, err := readFile(path)
	if err != nil {
		if isNotExist(err) {
			var st unix.Stat_t
			if serr := unix.Stat(f.pidPath(pid, "net"), &st); serr != nil {
				return err // the process is gone, not just the table
			}
			return nil
		}
		return err
	}
	defer putBuf(bp)
	data := (*bp)[:n]
	_, data = cutLine(data) // header
	var cols [10][]byte
	for ln := 2; len(data) > 0; ln++ {
		var line []byte
		line, data = cutLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		rest := line
		for i := 0; i <= t.inodeCol; i++ {
			cols[i], rest = nextField(rest)
		}
		ino, ok := parseDec(cols[t.inodeCol])
		if !ok {
			return parseErr(path, ln, "bad inode in %q", line)
		}
		s := Socket{Inode: ino, Family: t.family, Table: t.name}
		if t.stateCol >= 0 {
			st, ok := parseHex(cols[t.stateCol])
			if !ok {
				return parseErr(path, ln, "bad state in %q", line)
			}
			s.State = int(st)
		}
		if t.family == FamilyUnix {
			typ, ok := parseHex(cols[4])
			if !ok {
				return parseErr(path, ln, "bad type in %q", line)
			}
			s.Type = int(typ)
			// The path follows one blank and may contain blanks itself.
			if len(rest) > 1 && rest[0] == ' ' {
				s.Path = string(rest[1:])
			}
		}
		if !fn(&s) {
			return nil
		}
	}
	return nil
}

// Sockets reads every /proc/net socket table of the network namespace of pid
// (through /proc/PID/net) and indexes the sockets by inode. Use it once per
// namespace when classifying many sockets.
func (f FS) Sockets(pid int) (map[uint64]Socket, error) {
	out := map[uint64]Socket{}
	for _, t := range netTables {
		err := f.scanNetTable(pid, t, func(s *Socket) bool {
			out[s.Inode] = *s
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Sockets indexes the sockets of pid's network namespace with the default FS.
func Sockets(pid int) (map[uint64]Socket, error) { return FS{}.Sockets(pid) }

// SocketFamily finds the address family of socket inode ino of process pid. It
// first looks for the fd of pid that holds the socket and reads its
// "system.sockprotoname" xattr (a readlink per fd, one getxattr: microseconds,
// and it answers for sockets in no table), then searches the /proc/net tables of
// pid's network namespace (milliseconds: see netTables), which also know sockets
// pid holds only in flight. FamilyUnknown with a nil error means neither knows the
// inode. When the fd number is known, FdEntry.Family (from Fds or Fd) is cheaper
// still.
func (f FS) SocketFamily(pid int, ino uint64) (Family, error) {
	dir := f.pidPath(pid, "fd")
	nums, err := readDirInts(dir, nil)
	if err != nil {
		return FamilyUnknown, err
	}
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	for _, n := range nums {
		p := dir + "/" + strconv.Itoa(n)
		target, err := readlink(p)
		if err != nil || target != want {
			continue
		}
		proto, err := sockProtoName(p)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return FamilyUnknown, err
		}
		if fam := familyFromProto(proto); fam != FamilyUnknown {
			return fam, nil
		}
		break // a protocol without a name here: the tables may know it
	}
	fam := FamilyUnknown
	for _, t := range netTables {
		err := f.scanNetTable(pid, t, func(s *Socket) bool {
			if s.Inode == ino {
				fam = s.Family
				return false
			}
			return true
		})
		if err != nil {
			return FamilyUnknown, err
		}
		if fam != FamilyUnknown {
			return fam, nil
		}
	}
	return FamilyUnknown, nil
}

// SocketFamily finds the family of a socket inode with the default FS.
func SocketFamily(pid int, ino uint64) (Family, error) { return FS{}.SocketFamily(pid, ino) }
