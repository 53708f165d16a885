// Package procfs parses the /proc files crrun reads: maps, smaps, pagemap, status,
// stat, fd and fdinfo, auxv, ns links. Parsers only; no policy.
//
// Every reader is a method of FS, whose Root defaults to "/proc" so tests can point
// it at a fabricated tree; the package-level functions use the default FS. Errors
// name the file they came from: I/O errors are *fs.PathError, malformed content is a
// *ParseError (errors.Is(err, ErrMalformed)). A process or thread that vanished
// matches errors.Is(err, fs.ErrNotExist), whether the kernel said ENOENT or ESRCH
// (ESRCH: the file was opened before the task was reaped and read after).
//
// The readers run at checkpoint time on every process, so they avoid regular
// expressions and strconv on []byte, read each small file into one pooled buffer,
// and list directories with getdents64 directly. Pagemap asks the kernel for the
// populated runs with the PAGEMAP_SCAN ioctl (Linux 6.7+) and otherwise reads the
// 64-bit entries with one pread per mapping into a reused buffer. Socket families
// come from the "system.sockprotoname" xattr of the socket, which also covers
// sockets that were never bound and so are in no /proc/net table.
//
// Facts verified on kernel 6.18 (all but the timing are checked by the tests):
//   - unbound TCP/UDP sockets appear in no /proc/net table; reading /proc/net/tcp
//     or tcp6 costs about 5 ms each however few sockets there are;
//   - pidfds still read as "anon_inode:[pidfd]", memfds as "/memfd:NAME (deleted)",
//     MAP_SHARED|MAP_ANONYMOUS memory as "/dev/zero (deleted)";
//   - a page shared copy-on-write with a forked child loses pagemap bit 56
//     (exclusive); a written page of a private file mapping loses bit 61;
//   - a Go 1.26 program holds its poller's epoll and eventfd and also keeps
//     cgroup files (cpu.cfs_quota_us, cpu.cfs_period_us) open.
package procfs
