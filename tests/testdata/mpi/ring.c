// ring: a single-node MPI job for checkpoint tests.
//
//	mpirun -np 4 ring [STEPS [MIB]]
//
// Each rank holds MIB MiB (default 64) of doubles and, every step, updates a
// seventh of them, exchanges a 512 KiB slice with its neighbours in a ring
// (MPI_Sendrecv) and sums a sample of its array over all ranks
// (MPI_Allreduce). Rank 0 prints the sum of every step: the output is
// deterministic, so a checkpointed and restored run must print the same bytes
// as an uninterrupted one. At the end every rank recomputes its whole array's
// checksum, the ranks compare their pids with those they had at the start,
// and rank 0 prints the global checksum and PASS or FAIL.
//
// stderr: "ring: pid=N" (rank 0), "ring: rank R pid=N" (the others), "ring: running" (rank 0, once the
// loop starts), "ring: end pid=N" (rank 0, after it).
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	long steps = argc > 1 ? atol(argv[1]) : 200;
	long mib = argc > 2 ? atol(argv[2]) : 64;
	size_t n = (size_t)mib * 1024 * 1024 / 8, slice = 1 << 16;
	double *a = malloc(n * sizeof *a), *in = malloc(slice * sizeof *in);
	if (!a || !in || n <= slice) {
		fprintf(stderr, "ring: rank %d: no memory for %ld MiB\n", rank, mib);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (size_t i = 0; i < n; i++)
		a[i] = (double)(i % 1000) * (rank + 1);
	int pid = (int)getpid();
	if (rank == 0)
		fprintf(stderr, "ring: pid=%d ppid=%d\n", pid, (int)getppid());
	else
		fprintf(stderr, "ring: rank %d pid=%d\n", rank, pid);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		fprintf(stderr, "ring: running\n");
	for (long s = 0; s < steps; s++) {
		for (size_t i = s % 7; i < n; i += 7)
			a[i] = a[i] * 0.999 + 1.0;
		int to = (rank + 1) % size, from = (rank + size - 1) % size;
		size_t off = (size_t)(s * slice) % (n - slice);
		MPI_Sendrecv(a + off, slice, MPI_DOUBLE, to, 1, in, slice, MPI_DOUBLE, from, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		for (size_t i = 0; i < slice; i++)
			a[off + i] += in[i] * 1e-3;
		double local = 0, global = 0;
		for (size_t i = 0; i < n; i += 97)
			local += a[i];
		MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
		if (rank == 0) {
			printf("step %ld sum=%.9e\n", s, global);
			fflush(stdout);
		}
	}
	if (rank == 0)
		fprintf(stderr, "ring: end pid=%d\n", (int)getpid());
	// The whole array, bit for bit, folded into one word per rank.
	uint64_t h = 1469598103934665603ULL, all = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t w;
		memcpy(&w, &a[i], 8);
		h = (h ^ w) * 1099511628211ULL;
	}
	MPI_Allreduce(&h, &all, 1, MPI_UINT64_T, MPI_BXOR, MPI_COMM_WORLD);
	int samepid = (int)getpid() == pid, allsame = 0;
	MPI_Allreduce(&samepid, &allsame, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("checksum %016llx\n", (unsigned long long)all);
		if (allsame)
			printf("PASS\n");
		else
			printf("FAIL: a rank's pid changed\n");
		fflush(stdout);
	}
	MPI_Finalize();
	return 0;
}
