package token

import "time"

// KeyCounts is how many keys a KeySet publishes in each state, for the
// claimgate_signing_keys metric.
type KeyCounts struct {
	// Pending keys are published ahead of their activation: verifiers
	// learn them before any token carries their kid.
	Pending int
	// Active is 1 when a key signs.
	Active int
	// Retired keys no longer sign and stay published until every token
	// they signed has expired.
	Retired int
}

// Counts returns how many keys ks publishes in each state; zero for nil.
func (ks *KeySet) Counts() KeyCounts {
	if ks == nil {
		return KeyCounts{}
	}
	return ks.counts
}

// countKeys classifies the published keys that are loaded (in keys), at
// now: the active one, those still to activate, and the rest, retired.
func countKeys(published []keyMeta, active *keyMeta, keys map[string]*Key, now time.Time) KeyCounts {
	var n KeyCounts
	for _, meta := range published {
		if _, ok := keys[meta.ID]; !ok {
			continue // unreadable: not published either (see publish)
		}
		switch {
		case active != nil && meta.ID == active.ID:
			n.Active++
		case meta.ActivateAt.After(now):
			n.Pending++
		default:
			n.Retired++
		}
	}
	return n
}
