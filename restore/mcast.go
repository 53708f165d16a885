package restore

import (
	"fmt"

	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// attachFilters attaches each TCP or UDP socket's saved filter (and lock),
// once the datagrams queued on it are back: they were queued past the
// filter once, and must not be filtered again. (Multicast memberships are
// joined in openInet: inetsock.Join.)
func (t *treeRestorer) attachFilters() error {
	for _, q := range t.inet.filter {
		c, err := t.root.getfd(q.fd)
		if err != nil {
			return err
		}
		err = inetsock.SetFilter(c, q.s.Filter)
		unix.Close(c)
		if err != nil {
			return fmt.Errorf("%s socket %s: %w", protoName(q.s), q.s.Local, err)
		}
	}
	return nil
}
