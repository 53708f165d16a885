/* The crrun demo: a small computation that, halfway, opens a netlink socket (state
 * crrun cannot checkpoint yet), then closes it again. Each phase lasts until
 * the demo script writes a line on our stdin. */
#include <stdio.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long work(unsigned long x, int n) {
	for (int i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
	return x;
}

static void phase(const char *what) {
	char line[16];
	printf("demo app (pid %d): %s\n", getpid(), what);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin)) { /* EOF: go on */ }
}

int main(void) {
	FILE *log = fopen("/tmp/crrun-demo.log", "w");
	unsigned long x = work(1, 10000000);
	fprintf(log, "%lu\n", x);
	fflush(log);
	phase("computing, with a log file open");
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	phase("opened a netlink socket");
	close(s);
	phase("closed the socket");
	printf("demo app: result %lu\n", work(x, 1000));
	fclose(log);
	return 0;
}
