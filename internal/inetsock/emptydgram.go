package inetsock

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Empty datagrams and the peek walk. A walk with SO_PEEK_OFF skips an empty
// (zero-length) datagram that was peeked before (net/core/datagram.c: a
// skb with _off >= len is passed over when _off is not 0 or the skb was
// peeked): once a walk (a checkpoint's, the restore's read-back, or the
// app's own) has returned it, no later walk sees it, though it is still
// queued and a recv returns it. A second checkpoint would drop it
// silently. So every walk (PeekDatagrams) remembers, per socket, the
// datagrams that stood before the last empty one it saw; a later walk is
// refused (ErrHiddenEmpty) while one of them is still queued (the empty
// one is behind it, unseen), or while the head of the queue is an empty
// datagram the walk does not show (SIOCINQ, the head's length, says 0).

// ErrHiddenEmpty: the queue may hold an empty datagram no peek can see.
var ErrHiddenEmpty = errors.New("an empty datagram peeked before (by the app or an earlier checkpoint) may be queued, and a peek walk cannot see it again")

type dgramKey struct {
	dev, ino uint64
}

var emptyBefore = struct {
	sync.Mutex
	m map[dgramKey][]Datagram
}{m: map[dgramKey][]Datagram{}}

// checkHidden refuses a walk that may have missed an empty datagram, and
// records what the walk saw for the next one.
func checkHidden(fd int, seen []Datagram) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	k := dgramKey{st.Dev, st.Ino}
	mi := make([]byte, 4*unix.SK_MEMINFO_VARS)
	if _, err := getsockopt(fd, unix.SOL_SOCKET, unix.SO_MEMINFO, mi); err != nil {
		return fmt.Errorf("SO_MEMINFO: %w", err)
	}
	queued := le32(mi[4*unix.SK_MEMINFO_RMEM_ALLOC:]) > 0
	head, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return fmt.Errorf("SIOCINQ: %w", err)
	}
	emptyBefore.Lock()
	defer emptyBefore.Unlock()
	if queued && (len(seen) == 0 || head != len(seen[0].Data)) {
		return fmt.Errorf("%w (the queue's head is %d bytes, the walk saw %d datagrams)", ErrHiddenEmpty, head, len(seen))
	}
	if before := emptyBefore.m[k]; len(before) > 0 && len(seen) > 0 {
		for _, d := range before {
			if d.From == seen[0].From && bytes.Equal(d.Data, seen[0].Data) {
				return fmt.Errorf("%w (one an earlier walk saw stands behind the datagram from %s at the head)", ErrHiddenEmpty, d.From)
			}
		}
	}
	delete(emptyBefore.m, k)
	for i := len(seen) - 1; i >= 0; i-- {
		if len(seen[i].Data) == 0 {
			if i > 0 {
				emptyBefore.m[k] = append([]Datagram(nil), seen[:i]...)
			} else {
				emptyBefore.m[k] = []Datagram{} // at the head: SIOCINQ tells from now on
			}
			break
		}
	}
	return nil
}
