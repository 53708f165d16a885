package restore

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crrun/crrun/image"
)

// An app chooses its code for the CPU it starts on: glibc resolves memcpy,
// strlen and the math functions to AVX2 or AVX-512 versions once
// (IFUNC), numerical libraries (OpenBLAS, MKL, FFTW) pick kernels at
// initialisation, and code built with -march=native uses whatever the
// compiler saw. Restored on a CPU without one of those extensions, the app
// dies of SIGILL when it next runs such an instruction — hours later,
// perhaps. So a restore refuses a CPU that lacks an instruction-set
// extension the checkpoint's CPU had (both as /proc/cpuinfo names them),
// naming them. More extensions here are harmless: the app goes on using
// what it chose. Flags that are not instructions user code runs (the
// kernel's own features, mitigations, timer and topology properties,
// performance hints such as fsrm) are not compared.

// userISA lists the /proc/cpuinfo flags of x86-64 instruction-set
// extensions that user code may execute.
var userISA = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`
		fpu tsc cx8 cmov mmx fxsr sse sse2 syscall mmxext lm 3dnowext 3dnow
		pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx
		f16c rdrand lahf_lm abm sse4a misalignsse 3dnowprefetch xop fma4 tbm
		rdtscp fsgsbase bmi1 hle avx2 bmi2 rtm mpx avx512f avx512dq rdseed adx
		avx512ifma clflushopt clwb avx512pf avx512er avx512cd sha_ni avx512bw
		avx512vl xsaveopt xsavec xgetbv1 xsaves clzero mwaitx rdpru wbnoinvd
		avx512vbmi pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq
		avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid cldemote movdiri
		movdir64b enqcmd serialize tsxldtrk amx_bf16 amx_tile amx_int8
		amx_fp16 avx512_bf16 avx512_fp16 avx_vnni avx_vnni_int8 avx_ifma
		avx_ne_convert cmpccxadd prefetchi sha512 sm3 sm4`) {
		userISA[f] = true
	}
}

// checkCPU refuses a CPU (here) that lacks an instruction-set extension
// the image's (saved) had. An image without a CPU (an older crrun's) is
// not compared.
func checkCPU(saved, here *image.CPU) error {
	if saved == nil {
		return nil
	}
	if here == nil {
		return errors.New("cannot read this machine's CPU features (/proc/cpuinfo) to compare them with the checkpoint's")
	}
	var missing []string
	for _, f := range saved.Flags {
		if userISA[f] && !slices.Contains(here.Flags, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("this machine's CPU (%s) lacks %s, which the checkpoint's (%s) had: the app may have chosen code that uses them "+
		"(glibc and numerical libraries pick their code by CPU features when they start) and would die of SIGILL. "+
		"Restore on a machine with the same CPU features (in Slurm, a --constraint naming the node type)",
		orUnknown(here.Model), strings.Join(missing, ", "), orUnknown(saved.Model))
}

func orUnknown(s string) string {
	if s == "" {
		return "model unknown"
	}
	return s
}
