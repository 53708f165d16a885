/* netlink_port: holds a NETLINK_ROUTE socket bound to the port id given
 * (argv[1]) and prints it; sleeps until killed or 60 s pass. */
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_pid = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 0};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a)) {
		perror("netlink_port: bind");
		return 1;
	}
	fprintf(stderr, "netlink_port: running\n");
	for (int i = 0; i < 600; i++)
		usleep(100000);
	return 0;
}
