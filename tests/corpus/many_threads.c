// corpus: 300 threads, each with its own signal mask, name, timer slack and nice value, each holding its own values in r12, r13 and xmm6 across raw nanosleeps through the checkpoint (restore runs their state as batched syscalls, all threads at once)
// expect: exact
#include "corpus.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define N 300

static _Atomic int ready;
static char problem[N][96];

static uint64_t mix(uint64_t z) {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* the signals a thread blocks: a pattern of its own among 1-31 and 34-64
 * (not SIGKILL, SIGSTOP, nor glibc's 32 and 33) */
static void mask_of(long id, sigset_t *s) {
	uint64_t m = mix((uint64_t)id + 1);
	sigemptyset(s);
	for (int sig = 1; sig <= 64; sig++)
		if ((m >> (sig - 1)) & 1 && sig != SIGKILL && sig != SIGSTOP && sig != 32 && sig != 33)
			sigaddset(s, sig);
}

static void *worker(void *arg) {
	long id = (long)arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char name[16];
	snprintf(name, sizeof name, "many-%ld", id);
	prctl(PR_SET_NAME, name);
	prctl(PR_SET_TIMERSLACK, 1000 + id);
	setpriority(PRIO_PROCESS, tid, (int)(id % 20)); /* raising nice needs no privilege */
	sigset_t want, got;
	mask_of(id, &want);
	pthread_sigmask(SIG_SETMASK, &want, NULL);
	uint64_t a = mix((uint64_t)id * 7 + 3), b = ~a ^ (uint64_t)id, o12, o13, ox;
	long n = 100; /* 100 sleeps of 20 ms: ~2 s, the checkpoint lands among them */
	struct timespec ts = {0, 20 * 1000 * 1000};
	atomic_fetch_add(&ready, 1);
	__asm__ volatile("mov %[a], %%r12\n\t"
	                 "mov %[b], %%r13\n\t"
	                 "movq %[a], %%xmm6\n\t"
	                 "1:\n\t"
	                 "mov $35, %%eax\n\t" /* nanosleep(&ts, NULL) */
	                 "mov %[ts], %%rdi\n\t"
	                 "xor %%esi, %%esi\n\t"
	                 "syscall\n\t"
	                 "dec %[n]\n\t"
	                 "jnz 1b\n\t"
	                 "mov %%r12, %[o12]\n\t"
	                 "mov %%r13, %[o13]\n\t"
	                 "movq %%xmm6, %[ox]\n\t"
	                 : [o12] "=&r"(o12), [o13] "=&r"(o13), [ox] "=&r"(ox), [n] "+r"(n)
	                 : [a] "r"(a), [b] "r"(b), [ts] "r"(&ts)
	                 : "rax", "rdi", "rsi", "rcx", "r11", "r12", "r13", "xmm6", "memory");
	pthread_sigmask(SIG_SETMASK, NULL, &got);
	char nm[16] = "";
	prctl(PR_GET_NAME, nm);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, tid);
	if (o12 != a || o13 != b || ox != a)
		snprintf(problem[id], sizeof problem[id], "thread %ld: registers %lx %lx %lx, want %lx %lx %lx", id,
		         (unsigned long)o12, (unsigned long)o13, (unsigned long)ox, (unsigned long)a, (unsigned long)b, (unsigned long)a);
	else if (memcmp(&got, &want, sizeof got))
		snprintf(problem[id], sizeof problem[id], "thread %ld: signal mask changed", id);
	else if (strcmp(nm, name))
		snprintf(problem[id], sizeof problem[id], "thread %ld: name %s", id, nm);
	else if (prctl(PR_GET_TIMERSLACK) != 1000 + id)
		snprintf(problem[id], sizeof problem[id], "thread %ld: timer slack %d", id, prctl(PR_GET_TIMERSLACK));
	else if (nice != id % 20)
		snprintf(problem[id], sizeof problem[id], "thread %ld: nice %d", id, nice);
	else if ((pid_t)syscall(SYS_gettid) != tid)
		snprintf(problem[id], sizeof problem[id], "thread %ld: tid changed", id);
	return NULL;
}

int main(void) {
	pthread_t th[N];
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (long i = 0; i < N; i++)
		if ((errno = pthread_create(&th[i], &attr, worker, (void *)i)))
			die("pthread_create");
	while (atomic_load(&ready) < N)
		sleep_ms(1);
	running("many_threads");
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	int bad = 0;
	for (int i = 0; i < N; i++)
		if (problem[i][0] && bad++ < 3)
			fail("%s", problem[i]);
	if (bad > 3)
		fail("%d threads in all", bad);
	return finish();
}
