// corpus: sqlite3 in WAL mode: a writer holding an open write transaction (POSIX locks on the -shm file, the WAL and -shm mapped shared)
// expect: exact
// cflags: -lsqlite3
#include "corpus.h"
#include <sqlite3.h>
#include <sys/wait.h>

/* The same as sqlite_txn in WAL mode: the writer's open write transaction
 * is a POSIX lock on the -shm file, which it maps shared with the WAL index.
 * After the work a second process may read (WAL readers never wait) and
 * sees only the 100 committed rows, but cannot begin a write transaction
 * (SQLITE_BUSY); after the commit it sees every row, integrity "ok". */

#define DB "sqlite_wal.db"

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
	if (want < 0) { /* WAL: reading works and sees the committed rows; writing is locked */
		if (rc != SQLITE_ROW || sqlite3_column_int(st, 0) != 100)
			return 11;
		sqlite3_finalize(st);
		char *err = NULL;
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err);
		return rc == SQLITE_BUSY ? 0 : 15;
	}
	if (rc != SQLITE_ROW)
		return 12;
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n != want) {
		fprintf(stderr, "sqlite_wal: reader counts %d rows, want %d\n", n, want);
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
		execl("/proc/self/exe", "sqlite_wal", "reader", arg, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return 99;
	return WEXITSTATUS(st);
}

static sqlite3 *db;
static int rows;

static void insert(int i) {
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT INTO t(v) VALUES('row %d %08x')", rows, (unsigned)(rows * 2654435761u));
	must(db, sql);
	rows++;
}

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "reader"))
		return reader(atoi(argv[2]));
	unlink(DB);
	unlink(DB "-wal");
	unlink(DB "-shm");
	if (sqlite3_open(DB, &db) != SQLITE_OK)
		die("sqlite3_open");
	must(db, "PRAGMA journal_mode=WAL");
	must(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t(v)");
	must(db, "BEGIN");
	for (int i = 0; i < 100; i++)
		insert(i);
	must(db, "COMMIT");
	must(db, "BEGIN IMMEDIATE");
	for (int i = 0; i < 100; i++)
		insert(i);
	running("sqlite_wal");
	work(insert);
	int rc = run_reader(-1);
	if (rc != 0)
		fail("a second process could write, or saw uncommitted rows, during the open transaction (reader exit %d)", rc);
	must(db, "COMMIT");
	sqlite3_close(db);
	rc = run_reader(rows);
	if (rc != 0)
		fail("after the commit the reader exits %d (want %d rows, integrity ok)", rc, rows);
	printf("rows %d\n", rows);
	return finish();
}
