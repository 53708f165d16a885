/* locks.h: the lock programs' view of the kernel's lock lines. */
#ifndef CRRUN_CORPUS_LOCKS_H
#define CRRUN_CORPUS_LOCKS_H

#include "corpus.h"

/* fdinfo_locks copies fd's "lock:" lines (without "lock:\tN: ") into buf,
 * one per line, and returns how many. */
static CORPUS_UNUSED int fdinfo_locks(int fd, char *buf, size_t n) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	buf[0] = 0;
	if (!f)
		return -1;
	int k = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "lock:", 5) != 0)
			continue;
		char *p = strchr(line, ':');
		p = strchr(p + 1, ':') + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t l = strlen(buf);
		snprintf(buf + l, n - l, "%s", p);
		k++;
	}
	fclose(f);
	return k;
}

/* has_lock says whether fd's fdinfo shows a lock of class cls, type typ,
 * pid pid (0: any) and the range "start end" (NULL: any). */
static CORPUS_UNUSED int has_lock(int fd, const char *cls, const char *typ, int pid, const char *range) {
	char buf[2048], *save = NULL;
	if (fdinfo_locks(fd, buf, sizeof buf) < 0)
		return 0;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char c[16], m[16], t[16], dev[64], s[24], e[24];
		int p;
		if (sscanf(l, "%15s %15s %15s %d %63s %23s %23s", c, m, t, &p, dev, s, e) != 7)
			continue;
		char r[64];
		snprintf(r, sizeof r, "%s %s", s, e);
		if (!strcmp(c, cls) && !strcmp(t, typ) && (pid == 0 || p == pid) && (!range || !strcmp(r, range)))
			return 1;
	}
	return 0;
}

#endif
