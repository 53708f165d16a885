// Package checkpoint freezes a process with all its threads, collects its
// state through ptrace and /proc, and writes it as an image. It knows nothing
// about the command line or signals: the supervisor calls Dump.
package checkpoint
