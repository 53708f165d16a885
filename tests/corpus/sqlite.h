/* sqlite.h: what the sqlite corpus programs share. Define DB (the
 * database file), NAME (the program's name) and locked() (what a second
 * process must see while the writer's transaction is open: 0 if it does)
 * before including it. */
#ifndef CRRUN_CORPUS_SQLITE_H
#define CRRUN_CORPUS_SQLITE_H

#include <sqlite3.h>
#include <sys/wait.h>

static void must(sqlite3 *db, const char *sql) {
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		printf("FAIL: %s: %s\n", sql, err ? err : "?");
		exit(1);
	}
}

/* reader: exit 0 when the database is locked (want < 0) or holds want rows
 * and passes integrity_check; 10 + what differs otherwise. */
static int reader(int want) {
	sqlite3 *db;
	if (sqlite3_open_v2(DB, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return 10;
	sqlite3_busy_timeout(db, 0);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (want < 0)
		return locked(db, st, rc);
	if (rc != SQLITE_ROW)
		return 12;
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n != want) {
		fprintf(stderr, NAME ": reader counts %d rows, want %d\n", n, want);
		return 13;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		return 14;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

static int run_reader(int want) {
	char arg[32];
	snprintf(arg, sizeof arg, "%d", want);
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		execl("/proc/self/exe", NAME, "reader", arg, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return 99;
	return WEXITSTATUS(st);
}

#endif
