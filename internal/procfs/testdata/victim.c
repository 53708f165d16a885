// victim.c: a process with one of each kind of state the procfs tests inspect.
// Usage: victim COMM FILE DIR
//   COMM  name to set with PR_SET_NAME (may contain blanks and parentheses)
//   FILE  a file of 8 pages, mapped private; pages 2 and 5 are then written
//   DIR   a directory to watch with inotify and to create a deleted file in
// It prints "key value" lines describing what it made, then "ready", then waits
// until stdin is closed (so it never outlives a test that dies).
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define die(what) do { perror(what); exit(2); } while (0)

static pid_t thread_tid, thread_child;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static pid_t fork_sleeper(void) {
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;)
			pause();
	}
	return pid;
}

static void *thread_main(void *arg) {
	(void)arg;
	pid_t child = fork_sleeper(); // a child of this thread, not of the leader
	pthread_mutex_lock(&mu);
	thread_tid = syscall(SYS_gettid);
	thread_child = child;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	for (;;)
		pause();
	return NULL;
}

static void on_usr1(int sig) { (void)sig; }

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: victim COMM FILE DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (prctl(PR_SET_NAME, argv[1]) < 0)
		die("PR_SET_NAME");
	personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);

	signal(SIGUSR1, on_usr1);
	signal(SIGPIPE, SIG_IGN);
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR2);
	sigprocmask(SIG_BLOCK, &blk, NULL);

	// brk heap
	char *volatile heap = malloc(100000);
	memset(heap, 1, 100000);

	// MAP_SHARED anonymous: pages 0 and 5 written.
	char *shared = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap shared");
	shared[0] = 1;
	shared[5 * PAGE] = 1;
	printf("shared %p\n", shared);

	// Private file mapping: every page read, pages 2 and 5 written.
	int ffd = open(argv[2], O_RDONLY);
	if (ffd < 0)
		die("open file");
	char *priv = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
	if (priv == MAP_FAILED)
		die("mmap file");
	close(ffd);
	volatile unsigned sum = 0;
	for (unsigned long i = 0; i < 8; i++)
		sum += priv[i * PAGE];
	priv[2 * PAGE] = 'x';
	priv[5 * PAGE + 7] = 'y';
	printf("private %p\n", priv);

	// Sparse 1 GiB reservation, three pages touched, no transparent huge pages.
	unsigned long gib = 1UL << 30;
	char *sparse = mmap(NULL, gib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sparse == MAP_FAILED)
		die("mmap sparse");
	if (madvise(sparse, gib, MADV_NOHUGEPAGE) < 0)
		die("madvise");
	sparse[0] = 1;
	sparse[300UL * 1024 * 1024 + 3 * PAGE] = 1;
	sparse[gib - PAGE] = 1;
	printf("sparse %p\n", sparse);

	// epoll watching an eventfd (count 5) and a timerfd.
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int efd = eventfd(5, 0);
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec its = {.it_interval = {1, 0}, .it_value = {100, 0}};
	if (ep < 0 || efd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
		die("epoll/eventfd/timerfd");
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0)
		die("epoll_ctl");
	ev.events = EPOLLOUT | EPOLLET;
	ev.data.u64 = 7;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0)
		die("epoll_ctl");
	printf("epoll %d\neventfd %d\ntimerfd %d\n", ep, efd, tfd);

	sigset_t sfm;
	sigemptyset(&sfm);
	sigaddset(&sfm, SIGUSR1);
	sigaddset(&sfm, SIGTERM);
	int sfd = signalfd(-1, &sfm, 0);
	printf("signalfd %d\n", sfd);

	int ifd = inotify_init1(0);
	if (ifd < 0 || inotify_add_watch(ifd, argv[3], IN_CREATE | IN_DELETE) < 0)
		die("inotify");
	printf("inotify %d\n", ifd);

	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		die("socketpair");
	printf("unix %d\n", sp[0]);
	int tcp = socket(AF_INET, SOCK_STREAM, 0); // never bound: in no /proc/net table
	printf("tcp %d\n", tcp);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (udp < 0 || bind(udp, (struct sockaddr *)&sin, sizeof sin) < 0)
		die("udp");
	printf("udp %d\n", udp);
	int tcp6 = socket(AF_INET6, SOCK_STREAM, 0); // -1 without IPv6
	printf("tcp6 %d\n", tcp6);

	char path[4096];
	snprintf(path, sizeof path, "%s/deleted file", argv[3]);
	int dfd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (dfd < 0 || write(dfd, "hello", 5) != 5 || unlink(path) < 0)
		die("deleted file");
	printf("deleted %d\n", dfd);

	int mfd = memfd_create("crrun test", 0);
	if (mfd < 0 || ftruncate(mfd, 2 * PAGE) < 0)
		die("memfd");
	char *mm = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (mm == MAP_FAILED)
		die("mmap memfd");
	mm[0] = 1;
	printf("memfd %d\nmemfdmap %p\n", mfd, mm);

	printf("devnull %d\n", open("/dev/null", O_RDONLY));
	printf("dir %d\n", open(argv[3], O_RDONLY | O_DIRECTORY));
	int pp[2];
	if (pipe(pp) < 0)
		die("pipe");
	printf("pipe %d\n", pp[0]);

	struct io_uring_params up;
	memset(&up, 0, sizeof up);
	printf("iouring %ld\n", syscall(SYS_io_uring_setup, 4, &up)); // -1 when disabled

	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR2;
	sev.sigev_value.sival_ptr = (void *)0x42;
	timer_t timer;
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) < 0)
		die("timer_create");

	pid_t child = fork_sleeper();
	printf("child %d\n", child);
	printf("pidfd %ld\n", syscall(SYS_pidfd_open, child, 0));

	pthread_t th;
	if (pthread_create(&th, NULL, thread_main, NULL) != 0)
		die("pthread_create");
	pthread_mutex_lock(&mu);
	while (thread_tid == 0)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	printf("thread %d\nthreadchild %d\n", thread_tid, thread_child);

	printf("ready\n");
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
