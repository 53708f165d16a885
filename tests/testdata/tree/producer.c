/* producer: streams deterministic lines to stdout, slowly, for the pipeline
 * victim (pipeline.sh).
 *   producer [-f] [-q] [LINES [BATCH [DELAY_MS]]]
 * Line i is "kNNNN PAYLOAD" where the key NNNN = mix(i) % KEYS and the
 * payload depends on the key only, so equal keys give equal lines (uniq -c
 * counts them). Lines go out BATCH at a time with one write(2), DELAY_MS
 * apart (defaults: 24000 lines, 300 a batch, 50 ms: ~4 s). -f: no delay;
 * -q: no progress on stderr. Exits 0, or 1 if a write fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

#define KEYS 3000

int main(int argc, char **argv) {
	int fast = 0, quiet = 0, ai = 1;
	for (; ai < argc && argv[ai][0] == '-'; ai++) {
		if (strcmp(argv[ai], "-f") == 0)
			fast = 1;
		else if (strcmp(argv[ai], "-q") == 0)
			quiet = 1;
		else {
			fprintf(stderr, "usage: producer [-f] [-q] [LINES [BATCH [DELAY_MS]]]\n");
			return 2;
		}
	}
	long lines = ai < argc ? atol(argv[ai++]) : 24000;
	long batch = ai < argc ? atol(argv[ai++]) : 300;
	long delay = ai < argc ? atol(argv[ai++]) : 50;
	if (lines <= 0 || batch <= 0 || delay < 0)
		return 2;
	char *buf = malloc((size_t)batch * 32);
	long nbatches = (lines + batch - 1) / batch;
	for (long b = 0; b < nbatches; b++) {
		size_t len = 0;
		for (long i = b * batch; i < lines && i < (b + 1) * batch; i++) {
			unsigned key = (unsigned)(mix((uint64_t)i) % KEYS);
			len += (size_t)sprintf(buf + len, "k%04u %012" PRIx64 "\n", key, mix(key ^ 0xfeedULL) >> 16);
		}
		if (write_all(1, buf, len) != 0) {
			fprintf(stderr, "producer: write: %s\n", strerror(errno));
			return 1;
		}
		if (!quiet && (b + 1) % 10 == 0)
			fprintf(stderr, "producer: batch %ld/%ld\n", b + 1, nbatches);
		if (!fast && b + 1 < nbatches)
			sleep_ms(delay);
	}
	return 0;
}
