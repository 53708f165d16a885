package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// OwnerFile is the store's owner lock: a crrun that writes generations into
// a store, or resumes from it, holds an exclusive flock on this file for the
// rest of its life and writes in it who it is. Two apps checkpointing into
// one directory would mix their generations: --keep would delete the
// other's, and --resume=auto would restore whichever wrote last, another
// app's memory under the same command line. The name starts with a dot, so
// the store's scan ignores it.
const OwnerFile = ".owner"

// StoreInUseError says another live crrun holds a store's owner lock.
type StoreInUseError struct {
	Dir    string
	Holder string // what the holder wrote in the lock file
}

func (e *StoreInUseError) Error() string {
	return fmt.Sprintf("checkpoint directory %s is in use by another crrun (%s): two apps checkpointing into one directory "+
		"would mix their generations, and --resume=auto would restore whichever wrote last. "+
		"Give each app its own --dir (in a batch job, e.g. with $SLURM_JOB_ID), or end that crrun first", e.Dir, e.Holder)
}

// A StoreLock is a held owner lock (see OwnerFile).
type StoreLock struct {
	f *os.File
	// Unsupported: the file system takes no flock (some cluster file
	// systems), so nothing is held and nothing could be told.
	Unsupported error
}

// Lock takes the owner lock of the store without waiting and writes owner
// (who this crrun is, for another's error) into it. Held by another open
// file description, it fails with a *StoreInUseError. Where the file
// system has no locks, or the store is read only to this process, it
// returns a lock with Unsupported set.
func (s *Store) Lock(owner string) (*StoreLock, error) {
	path := filepath.Join(s.dir, OwnerFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		// A store read only to this crrun (resumed from an archive):
		// it cannot write generations there either.
		return &StoreLock{Unsupported: err}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the store's owner lock: %w", err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
	case errors.Is(err, unix.EWOULDBLOCK):
		b, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "it has not said who it is yet"
		}
		return nil, &StoreInUseError{Dir: s.dir, Holder: holder}
	case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
		f.Close()
		return &StoreLock{Unsupported: os.NewSyscallError("flock "+path, err)}, nil
	default:
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, os.NewSyscallError("flock", err))
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(owner+"\n"), 0)
	}
	return &StoreLock{f: f}, nil
}

// Close releases the lock.
func (l *StoreLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close()
}
