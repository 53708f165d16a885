/* The checkpoint half of the crrun demo: counts to 20, one step every 150 ms,
 * with a checksum over 64 MiB of memory it keeps changing; at the end it
 * checks the checksum from scratch and prints PASS or FAIL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define N (64u << 20)

int main(void) {
	uint8_t *mem = malloc(N);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < N; i++) mem[i] = (uint8_t)(i * 31);
	for (int step = 1; step <= 20; step++) {
		for (uint32_t i = step; i < N; i += 4096) mem[i] ^= (uint8_t)step;
		printf("demo counter (pid %d): step %d\n", getpid(), step);
		fflush(stdout);
		struct timespec ts = {0, 150 * 1000 * 1000};
		while (nanosleep(&ts, &ts) != 0) {}
	}
	for (uint32_t i = 0; i < N; i++) sum += mem[i];
	uint64_t want = 0;
	for (uint32_t i = 0; i < N; i++) {
		uint8_t v = (uint8_t)(i * 31);
		for (int step = 1; step <= 20; step++)
			if (i >= (uint32_t)step && (i - step) % 4096 == 0) v ^= (uint8_t)step;
		want += v;
	}
	printf(sum == want ? "PASS: 64 MiB intact\n" : "FAIL: memory changed\n");
	return sum != want;
}
