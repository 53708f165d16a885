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
	locks map[string]*image.StoreLock
}

// claimStore takes the owner lock of store dir for this crrun, once; argv
// is the app's command, for another crrun's error. A store another live
// crrun holds is an *image.StoreInUseError.
func claimStore(dir string, argv []string) error {
	heldStores.Lock()
	defer heldStores.Unlock()
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
	if heldStores.locks[key] != nil {
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
	if heldStores.locks == nil {
		heldStores.locks = map[string]*image.StoreLock{}
	}
	heldStores.locks[key] = l
	return nil
}
