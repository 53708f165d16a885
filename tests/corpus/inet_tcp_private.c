// corpus: TCP connections inside the app, mid-transfer both ways with full queues (TCP_REPAIR), IPv4, in a network namespace of the app's own
// expect: exact
// flags: --net=private
#include "inet_tcp.h"

int main(void) { return tcp_main("inet_tcp_private", AF_INET); }
