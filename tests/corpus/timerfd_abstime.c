// corpus: absolute timerfds (TFD_TIMER_ABSTIME): a wall-clock one an hour ahead with TFD_TIMER_CANCEL_ON_SET, and a monotonic one due 3 s after the start that fires after the restore; flags, deadlines and expirations checked (before: re-armed relative, flags lost, the restore refused by its verifier)
// expect: exact
#include "corpus.h"
#include <poll.h>
#include <sys/timerfd.h>

static int settime_flags(int fd) {
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	int flags = -1;
	while (f && fgets(line, sizeof line, f))
		sscanf(line, "settime flags: %o", &flags);
	if (f)
		fclose(f);
	return flags;
}

int main(void) {
	int wall = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK), mono = timerfd_create(CLOCK_MONOTONIC, 0);
	struct timespec now, start;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct itimerspec w = {.it_value = {now.tv_sec + 3600, 0}}, m = {.it_value = {start.tv_sec + 3, start.tv_nsec}};
	if (wall < 0 || mono < 0 || timerfd_settime(wall, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &w, NULL) ||
	    timerfd_settime(mono, TFD_TIMER_ABSTIME, &m, NULL))
		die("timerfd_settime");
	running("timerfd_abstime");
	work(NULL);
	struct itimerspec cur;
	struct timespec n2;
	timerfd_gettime(wall, &cur);
	clock_gettime(CLOCK_REALTIME, &n2);
	if (labs(n2.tv_sec + cur.it_value.tv_sec - (now.tv_sec + 3600)) > 2)
		fail("the wall-clock timer is due at %ld, want %ld", n2.tv_sec + cur.it_value.tv_sec, now.tv_sec + 3600);
	if (settime_flags(wall) != (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
		fail("wall settime flags %o", settime_flags(wall));
	if (settime_flags(mono) != TFD_TIMER_ABSTIME)
		fail("monotonic settime flags %o", settime_flags(mono));
	uint64_t ticks = 0;
	if (read(mono, &ticks, 8) != 8 || ticks != 1)
		fail("monotonic expirations %lu", (unsigned long)ticks);
	struct timespec fired;
	clock_gettime(CLOCK_MONOTONIC, &fired);
	if (fired.tv_sec < start.tv_sec + 3 || (fired.tv_sec == start.tv_sec + 3 && fired.tv_nsec < start.tv_nsec))
		fail("the monotonic timer fired before its deadline");
	return finish();
}
