package image

// VmFlags (the two-letter codes of /proc/PID/smaps, fs/proc/task_mmu.c) and
// what an image does with each. Every code a mapping shows is one of:
//
//   - restored: restore sets it again (an madvise, mlock or mseal hint, or a
//     mmap flag);
//   - derived: the kernel sets it from how the mapping is made (protection,
//     MAP_SHARED, the fd's access mode, accounting), restore makes the
//     mapping the same way and the verifier compares it;
//   - anything else: the checkpoint refuses the mapping, naming the flag
//     (VMFlagRefusal), because restore would silently drop it.
//
// The kernel's own mappings ([vdso], [vvar], [vvar_vclock], [vsyscall]) are
// the kernel's: their flags are not checked.
var vmFlagRestored = map[string]string{
	"sr": "madvise(MADV_SEQUENTIAL)",
	"rr": "madvise(MADV_RANDOM)",
	"dc": "madvise(MADV_DONTFORK)",
	"wf": "madvise(MADV_WIPEONFORK)",
	"dd": "madvise(MADV_DONTDUMP)",
	"hg": "madvise(MADV_HUGEPAGE)",
	"nh": "madvise(MADV_NOHUGEPAGE)",
	"mg": "madvise(MADV_MERGEABLE)",
	"lo": "mlock",
	"lf": "mlock2(MLOCK_ONFAULT)",
	"sl": "mseal",
	"gu": "madvise(MADV_GUARD_INSTALL) on the guard pages (VMA.Guards)",
	"gd": "mmap(MAP_GROWSDOWN)",
	"nr": "mmap(MAP_NORESERVE)",
}

var vmFlagDerived = map[string]string{
	"rd": "PROT_READ",
	"wr": "PROT_WRITE",
	"ex": "PROT_EXEC",
	"sh": "MAP_SHARED of a writable fd",
	"ms": "MAP_SHARED",
	"mr": "may read",
	"mw": "may write (MAP_PRIVATE, or MAP_SHARED of an fd opened for writing)",
	"me": "may execute (not a noexec mount)",
	"ac": "accounted (a private mapping that was ever writable)",
	"sd": "soft-dirty (set on new mappings)",
}

// vmFlagRefused explains the flags restore cannot reproduce.
var vmFlagRefused = map[string]string{
	"pf": "a device mapping (VM_PFNMAP) not supported yet",
	"io": "a device I/O mapping (VM_IO) not supported yet",
	"mm": "a device mapping (VM_MIXEDMAP) not supported yet",
	"de": "a driver mapping that cannot grow (VM_DONTEXPAND: io_uring, perf, DRM...) not supported yet",
	"ht": "a hugetlb mapping (MAP_HUGETLB, hugetlbfs) not supported yet",
	"um": "a userfaultfd-registered mapping (missing mode) not supported yet",
	"uw": "a userfaultfd-registered mapping (write-protect mode) not supported yet",
	"ui": "a userfaultfd-registered mapping (minor mode) not supported yet",
	"ss": "a shadow-stack mapping not supported yet",
	"dp": "a MAP_DROPPABLE mapping not supported yet",
	"sf": "a MAP_SYNC (DAX) mapping not supported yet",
	"ar": "an architecture-specific mapping flag not supported yet",
	"bt": "an arm64 BTI mapping not supported",
	"mt": "an arm64 MTE mapping not supported",
}

// VMFlagRestored reports whether restore sets flag again, and how.
func VMFlagRestored(flag string) (how string, ok bool) {
	how, ok = vmFlagRestored[flag]
	return how, ok
}

// VMFlagDerived reports whether flag follows from how restore makes the
// mapping (compared by the verifier, not set by itself).
func VMFlagDerived(flag string) bool {
	_, ok := vmFlagDerived[flag]
	return ok
}

// VMFlagRefusal returns why a mapping showing flag cannot be restored, or
// "" if restore reproduces it. An unknown flag is refused: a kernel newer
// than this crrun shows state it does not know how to restore.
func VMFlagRefusal(flag string) string {
	if _, ok := vmFlagRestored[flag]; ok {
		return ""
	}
	if _, ok := vmFlagDerived[flag]; ok {
		return ""
	}
	if why, ok := vmFlagRefused[flag]; ok {
		return why + " (VmFlags " + flag + ")"
	}
	return "VmFlags " + flag + " unknown to this crrun, not supported yet"
}

// VMFlagsNew are the restored flags an older crrun silently dropped: an
// image with a mapping showing one requires the "vmflags" feature.
var VMFlagsNew = []string{"sr", "rr", "lf", "sl", "gu"}
