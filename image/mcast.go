package image

// McastMembership is one multicast group a UDP socket is a member of
// (Inet.Memberships), on one interface, with its source filter.
type McastMembership struct {
	Group   string `json:"group"`   // the group's address
	Ifindex int    `json:"ifindex"` // the interface's index
	// Dev names the interface: a restore checks that the index is still
	// this device in the app's network namespace.
	Dev string `json:"dev"`
	// Exclude: the filter's mode (MCAST_EXCLUDE: every source but
	// Sources; a plain join is an empty exclude list), else
	// MCAST_INCLUDE (only Sources).
	Exclude bool     `json:"exclude,omitempty"`
	Sources []string `json:"sources,omitempty"`
}
