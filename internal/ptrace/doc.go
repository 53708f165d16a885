// Package ptrace is tracee control shared by checkpoint and restore: seize,
// interrupt, wait, registers, xstate and syscall injection, all from one locked OS
// thread. It grows no policy.
package ptrace
