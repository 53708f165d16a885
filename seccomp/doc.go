// Package seccomp owns the NOCR table (which syscalls and argument values create
// kernel state crrun cannot save yet, and why), builds the seccomp user-notification
// filter from it with libseccomp, and decodes a notification into a taint with a
// reason. It knows nothing about checkpoints.
package seccomp
