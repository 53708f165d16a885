package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/crrun/crrun/image"
)

// The stores this crrun writes into or resumed from, locked for the rest of
// its life (image.OwnerFile): every life of a run (restarts build a new
// Supervisor) shares them, as the process holds the lock, not a Supervisor.
var heldStores struct {
	sync.Mutex
	locks map[string]*image.StoreLock // by resolved path
	named map[string]bool             // the names claimStore was given for them
}

// claimStore takes the owner lock of store dir for this crrun, once; argv
// is the app's command, for another crrun's error. A store another live
// crrun holds is an *image.StoreInUseError.
func claimStore(dir string, argv []string) error {
	heldStores.Lock()
	defer heldStores.Unlock()
	if heldStores.named[dir] {
		return nil // every checkpoint after the first: no I/O
	}
	store, err := image.OpenStore(dir) // made if missing, absolute
	if err != nil {
		return err
	}
	// One key per directory, however it was named: a second lock of it
	// from this process would find this process holding it.
	key := store.Dir()
	if real, err := filepath.EvalSymlinks(key); err == nil {
		key = real
	}
	if heldStores.named == nil {
		heldStores.locks, heldStores.named = map[string]*image.StoreLock{}, map[string]bool{}
	}
	if heldStores.locks[key] != nil {
		heldStores.named[dir] = true
		return nil
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("crrun pid %d on host %s since %s, running %s", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339), QuoteCommand(argv))
	l, err := store.Lock(owner)
	if err != nil {
		return err
	}
	if l.Unsupported != nil {
		slog.Warn(fmt.Sprintf("checkpoint directory %s: no owner lock (%v): crrun cannot tell whether another app checkpoints into it too", store.Dir(), l.Unsupported))
	}
	heldStores.locks[key] = l
	heldStores.named[dir] = true
	return nil
}
