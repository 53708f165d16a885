// corpus: sqlite3 in WAL mode: a writer holding an open write transaction (POSIX locks on the -shm file, the WAL and -shm mapped shared)
// expect: exact
// cflags: -lsqlite3
#include "corpus.h"
#include <sqlite3.h>

/* The same as sqlite_txn in WAL mode: the writer's open write transaction
 * is a POSIX lock on the -shm file, which it maps shared with the WAL index.
 * After the work a second process may read (WAL readers never wait) and
 * sees only the 100 committed rows, but cannot begin a write transaction
 * (SQLITE_BUSY); after the commit it sees every row, integrity "ok". */

#define DB "sqlite_wal.db"
#define NAME "sqlite_wal"

/* WAL: reading works and sees the committed rows; writing is locked. */
static int locked(sqlite3 *db, sqlite3_stmt *st, int rc) {
	if (rc != SQLITE_ROW || sqlite3_column_int(st, 0) != 100)
		return 11;
	sqlite3_finalize(st);
	char *err = NULL;
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err);
	return rc == SQLITE_BUSY ? 0 : 15;
}

#include "sqlite.h"

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
