// corpus: threads with their own names, signal masks and thread-local data, a mutex and a condition variable shared between them
// expect: exact
#include "corpus.h"
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static __thread long mine;
static int stop;

static void *worker(void *arg) {
	long id = (long)arg;
	char name[16];
	snprintf(name, sizeof name, "worker-%ld", id);
	prctl(PR_SET_NAME, name);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1 + (int)id % 2);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	mine = id * 1000;
	for (;;) {
		pthread_mutex_lock(&mu);
		if (stop) { pthread_mutex_unlock(&mu); break; }
		counter++;
		mine++;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		usleep(1000);
	}
	char now[16];
	prctl(PR_GET_NAME, now);
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	int ok = !strcmp(now, name) && sigismember(&cur, SIGUSR1 + (int)id % 2) && mine > id * 1000 && mine < id * 1000 + 1000000;
	return (void *)(long)ok;
}

int main(void) {
	pthread_t t[4];
	for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)i);
	running("threads");
	work(NULL);
	pthread_mutex_lock(&mu);
	long c = counter;
	stop = 1;
	pthread_mutex_unlock(&mu);
	if (c < 100) fail("counter %ld", c);
	for (int i = 0; i < 4; i++) {
		void *ok;
		pthread_join(t[i], &ok);
		if (!ok) fail("thread %d lost its name, mask or thread-local data", i);
	}
	return finish();
}
