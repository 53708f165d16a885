// Package image is crrun's on-disk checkpoint format: the types of what is
// saved, versioning, checksums, the writer, the reader, validation, and
// generations of checkpoints side by side. It does no ptrace.
//
// A checkpoint image is a directory:
//
//	gen-000042/
//	├── MANIFEST.json     commit marker, written last. Magic "crrun-image",
//	│                     format version, required features, arch, page size,
//	│                     created, reason, trigger, crrun version, and
//	│                     {name, size, crc32c} of every other file.
//	│                     Self-checksummed: "manifest_crc32c", the last member.
//	├── image.json        Meta: argv, kernel, vdso identity, root pid, the
//	│                     processes, parents first.
//	├── proc-<pid>.json   Process, one per process: ids, exe identity, creds,
//	│                     rlimits, itimers, signal handlers, mm fields, auxv,
//	│                     memory map, fds, threads (regs, xstate, sigmask…).
//	├── pagemap.json      the page index: one PageExtent per line,
//	│                     {pid, vaddr, length, file, offset, crc32c}.
//	├── pages-<pid>.bin   raw memory of one process: its extents back to
//	│                     back, no header, no padding.
//	├── pagecrc-<pid>.bin chainable images: the CRC-32C of each page of
//	│                     pages-<pid>.bin (pagecrc.go).
//	└── blob-<name>       opaque data referred to by name (the content of a
//	                      deleted file, a memfd, shared memory).
//
// Every JSON file is indented UTF-8 for people to read. Page files are
// raw so that they can be mapped:
//
//	pages-<pid>.bin
//	0            4096                          4096·k            size
//	+------------+-----------------------------+-------- … ------+
//	| extent 0   | extent 1                    |                 |
//	| vaddr A    | vaddr B, length 4096·(k-1)  |                 |
//	+------------+-----------------------------+-------- … ------+
//	   every offset, address and length is a multiple of 4096, so
//	   mmap(B, length, prot, MAP_PRIVATE|MAP_FIXED, fd, offset) puts an
//	   extent in place without copying (a future lazy restore).
//
// Integrity: every file's size and CRC-32C are in the manifest; each
// extent's CRC-32C is in pagemap.json too, so a corrupt page names the
// process and address. Open checks the manifest, every file's presence and
// size, and every metadata file's checksum and content; Verify checks the
// page data and blobs (restore calls it before running anything). Problems
// are *Error values wrapping ErrImageIncomplete (no manifest: never
// committed), ErrImageCorrupt or ErrImageVersion, naming the file.
//
// Writing (Writer): all files go to a temporary directory next to the target,
// ".<name>.tmp-<random>", created 0700, files O_EXCL 0600; Commit fsyncs every
// file, writes and fsyncs the manifest last, fsyncs the directory, renames it
// into place (RENAME_NOREPLACE) and fsyncs the parent. Any error removes the
// temporary directory and leaves the previous image untouched.
//
// Generations (Store): the user's --dir holds gen-NNNNNN directories, a
// "latest" symlink that nothing trusts, and temporary directories that
// readers ignore. OpenNewest takes the newest generation that opens (and
// verifies); Prune keeps the newest N valid ones.
//
// The full specification, versioning rules and measurements are in
// docs/image-format.md.
package image
