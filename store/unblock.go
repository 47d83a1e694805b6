package store

import (
	"context"
	"fmt"
)

// ClearBlocks clears what brute-force protection recorded against user from
// ip (State.Unblock's three cases: user and ip, user from every IP, ip's
// daily budget when user is empty), and returns how many rows it removed.
// users computes the login name's key, st holds the counters.
//
// user is whatever the operator knows, so every key it may be counted
// under is cleared: the user_id (a known user), and the login name (a name
// that matched nobody) under its weights in the database's collation, as
// the server keys it (Store.LoginSubject), and lower-cased, as claimgate
// keyed names before that, so that blocks an older claimgate set go too.
//
// It is the one implementation behind `claimgate unblock` on a database it
// can reach and the admin API's /claimgate/unblock inside the server.
func ClearBlocks(ctx context.Context, users *Store, st *State, user, ip string) (int64, error) {
	if user == "" {
		n, err := st.Unblock(ctx, "", ip)
		if err != nil {
			return 0, fmt.Errorf("clearing block: %w", err)
		}
		return n, nil
	}
	nameKey, err := users.LoginSubject(ctx, nil, user)
	if err != nil {
		return 0, fmt.Errorf("computing the login name's key: %w", err)
	}
	subjects := []string{LoginSubject(user, true, ""), nameKey}
	if legacy := LoginSubject("", false, user); legacy != nameKey {
		subjects = append(subjects, legacy)
	}
	var total int64
	for _, subject := range subjects {
		n, err := st.Unblock(ctx, subject, ip)
		if err != nil {
			return total, fmt.Errorf("clearing block: %w", err)
		}
		total += n
	}
	return total, nil
}
