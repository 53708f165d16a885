/* bench/wpfault.c — what dirty tracking costs the app: the first write to
 * each page after a checkpoint armed it (userfaultfd WP_ASYNC, as
 * checkpoint/dirty.go arms it), against the machine's own fault costs.
 *
 *   cc -O2 -o wpfault bench/wpfault.c && ./wpfault [MiB] [reps]
 *
 * Prints, per 4 KiB page, medians of reps: a first touch (a fresh zero
 * page), a rewrite (no fault), a copy-on-write fault after fork, the
 * write to an armed page, and the arming itself (PAGEMAP_SCAN with
 * WP_MATCHING, what the pause pays). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/{userfaultfd,fs}.h of Linux 6.7+ (Debian 12's
 * headers are older) */
#define UFFD_API_ 0xaa
#define UFFDIO_API_ 0xc018aa3f
#define UFFDIO_REGISTER_ 0xc020aa00
#define UFFD_FEATURE_WP_ASYNC_ (1 << 15)
struct uffd_api { unsigned long long api, features, ioctls; };
struct uffd_reg { unsigned long long start, len, mode, ioctls; };
struct page_region { unsigned long long start, end, categories; };
struct pm_scan_arg { unsigned long long size, flags, start, end, walk_end, vec, vec_len, max_pages, inverted, mask, anyof, ret; };
#define PAGEMAP_SCAN_ _IOWR('f', 16, struct pm_scan_arg)

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void touch(char *p, size_t len, char v) {
	for (size_t i = 0; i < len; i += 4096)
		p[i] = v;
}

int main(int argc, char **argv) {
	size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 64;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	size_t len = mib << 20, pages = len / 4096;
	double r[5][64];
	if (reps > 64)
		reps = 64;
	for (int k = 0; k < reps; k++) {
		char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		madvise(p, len, MADV_NOHUGEPAGE);
		double t0 = now();
		touch(p, len, 1);
		double t1 = now();
		touch(p, len, 2);
		double t2 = now();
		pid_t c = fork();
		if (c == 0) {
			pause();
			_exit(0);
		}
		double t3 = now();
		touch(p, len, 3);
		double t4 = now();
		kill(c, SIGKILL);
		waitpid(c, 0, 0);
		int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
		struct uffd_api api = {.api = UFFD_API_, .features = UFFD_FEATURE_WP_ASYNC_};
		struct uffd_reg reg = {.start = (unsigned long)p, .len = len, .mode = 2 /* WP */};
		if (u < 0 || ioctl(u, UFFDIO_API_, &api) || ioctl(u, UFFDIO_REGISTER_, &reg)) {
			perror("userfaultfd WP_ASYNC");
			return 1;
		}
		int pm = open("/proc/self/pagemap", O_RDONLY);
		struct page_region v[64];
		struct pm_scan_arg a = {.size = sizeof a, .flags = 1 | 2 /* WP_MATCHING, CHECK_WPASYNC */, .start = (unsigned long)p,
					.end = (unsigned long)p + len, .vec = (unsigned long)v, .vec_len = 64, .mask = 2, .ret = 2 /* WRITTEN */};
		double t5 = now();
		if (ioctl(pm, PAGEMAP_SCAN_, &a) < 0) {
			perror("PAGEMAP_SCAN");
			return 1;
		}
		double t6 = now();
		touch(p, len, 4);
		double t7 = now();
		r[0][k] = (t1 - t0) / pages, r[1][k] = (t2 - t1) / pages, r[2][k] = (t4 - t3) / pages;
		r[3][k] = (t7 - t6) / pages, r[4][k] = (t6 - t5) / pages;
		close(pm), close(u), munmap(p, len);
	}
	const char *what[] = {"first touch", "rewrite", "copy-on-write after fork", "write to an armed page", "arming (in the pause)"};
	printf("%zu MiB, %d reps, median us per page:\n", mib, reps);
	for (int i = 0; i < 5; i++) {
		qsort(r[i], reps, sizeof r[i][0], cmp);
		printf("  %-26s %8.3f\n", what[i], r[i][reps / 2]);
	}
	return 0;
}
