// corpus: TCP connections inside the app, mid-transfer both ways with full queues (TCP_REPAIR), IPv6, on the host's network (root)
// expect: exact
// needs: root
#include "inet_tcp.h"

int main(void) { return tcp_main("inet_tcp_host", AF_INET6); }
