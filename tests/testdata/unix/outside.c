/* outside: a unix stream socket connected to NAME (argv[1], '@' for an
 * abstract name), a socket outside the app; it checks after ~1.5 s that
 * the connection still works (writes "ping", reads "pong") and prints PASS. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2)
		return 2;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[1]);
	socklen_t l = offsetof(struct sockaddr_un, sun_path) + strlen(argv[1]);
	if (a.sun_path[0] == '@')
		a.sun_path[0] = 0;
	else
		l++;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (void *)&a, l)) {
		printf("FAIL: connect: %s\n", strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	fprintf(stderr, "outside: running\n");
	struct timespec ts = {1, 500000000};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	char b[5] = {0};
	if (write(s, "ping", 4) != 4 || read(s, b, 4) != 4 || strcmp(b, "pong")) {
		printf("FAIL: ping: %s\n", b);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
