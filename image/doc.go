// Package image is crrun's on-disk checkpoint format: types, versioning, checksums,
// the reader and writer, and validation. It does no ptrace.
package image
