// corpus: sqlite3 writer holding an open transaction (its POSIX locks on the database)
// expect: exact
// cflags: -lsqlite3
#include "corpus.h"
#include <sqlite3.h>

/* The writer commits 100 rows, then opens BEGIN EXCLUSIVE and inserts 100
 * more and one every 10 ms while it works: the transaction is open when the
 * checkpoint lands, and sqlite holds it through POSIX locks on the
 * database file (and its rollback journal). After the work a second sqlite
 * process (this program re-executed as "reader") must find the database
 * locked (SQLITE_BUSY) and leave the journal alone; then the writer
 * commits, and a reader sees every row and PRAGMA integrity_check "ok". */

#define DB "sqlite_txn.db"
#define NAME "sqlite_txn"

/* A rollback-journal database is locked for readers too. */
static int locked(sqlite3 *db, sqlite3_stmt *st, int rc) {
	(void)db;
	(void)st;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? 0 : 11;
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
	unlink(DB "-journal");
	if (sqlite3_open(DB, &db) != SQLITE_OK)
		die("sqlite3_open");
	must(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t(v)");
	must(db, "BEGIN");
	for (int i = 0; i < 100; i++)
		insert(i);
	must(db, "COMMIT");
	must(db, "BEGIN EXCLUSIVE");
	for (int i = 0; i < 100; i++)
		insert(i);
	running("sqlite_txn");
	work(insert);
	int rc = run_reader(-1);
	if (rc != 0)
		fail("a second process could read the database during the open transaction (reader exit %d)", rc);
	must(db, "COMMIT");
	sqlite3_close(db);
	rc = run_reader(rows);
	if (rc != 0)
		fail("after the commit the reader exits %d (want %d rows, integrity ok)", rc, rows);
	printf("rows %d\n", rows);
	return finish();
}
