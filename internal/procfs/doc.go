// Package procfs parses the /proc files crrun reads: maps, smaps, pagemap, status,
// stat, fd and fdinfo, auxv, ns links. Parsers only; no policy.
package procfs
