// udp_empty: a UDP socket with a queue of "a", an empty datagram, "b";
// prints "udp_empty: running", then every 100 ms for 3 s checks that a
// recv would still see all three (SIOCINQ of the head); then reads them
// and prints PASS or FAIL.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t l = sizeof a;
	if (bind(rx, (void *)&a, sizeof a) || getsockname(rx, (void *)&a, &l))
		return perror("bind"), 1;
	sendto(tx, "a", 1, 0, (void *)&a, sizeof a);
	sendto(tx, "", 0, 0, (void *)&a, sizeof a);
	sendto(tx, "b", 1, 0, (void *)&a, sizeof a);
	fprintf(stderr, "udp_empty: pid=%d\nudp_empty: running\n", (int)getpid());
	for (int i = 0; i < 30; i++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	char buf[8];
	const char *want[] = {"a", "", "b"};
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		ssize_t n = recv(rx, buf, sizeof buf, MSG_DONTWAIT);
		if (n != (ssize_t)strlen(want[i]) || memcmp(buf, want[i], n)) {
			printf("FAIL: datagram %d: %zd bytes, want %zu\n", i, n, strlen(want[i]));
			bad = 1;
		}
	}
	if (!bad)
		printf("PASS\n");
	fprintf(stderr, "udp_empty: end pid=%d\n", (int)getpid());
	return bad;
}
