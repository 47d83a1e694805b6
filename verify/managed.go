package verify

import (
	"slices"
	"sync"
	"sync/atomic"
)

// The managed set: which client-sent headers claimgate_verify deletes.
//
// The managed set is every name in a `header` line of *any* claimgate_verify in the
// config, plus the handler's own `strip` names. A route that forwards only
// X-User-Id must still delete a forged X-User-Roles, because the same app
// may be reachable through another route that does forward X-User-Roles, and
// the app cannot tell which route a request came through.
//
// Caddy offers no per-config registry a handler could consult, so the names
// live in one process-wide, reference-counted registry: Provision adds a
// handler's header names, Cleanup removes them. During a reload the new
// config is provisioned before the old one is cleaned up, so for a moment
// the set is the union of both configs' names. That is a superset of what
// either config needs, which only means stripping more than necessary —
// safe (a client-sent header is never trusted), never less. The registry can
// never hold fewer than the running config's names, because a name leaves
// only when every handler that added it is cleaned up.
//
// `strip` names stay per handler: they name headers that one route's app
// trusts; another route's app may legitimately expect the client to send
// them.
//
// Each handler also keeps its own names (header and strip), merged into the
// set it checks. A request of the old config still in flight after that
// config's Cleanup then still loses the handler's own names.
//
// The hot path (every request) loads two atomic pointers — the registry's
// snapshot and the handler's merged set — and, when the snapshot is the one
// the merged set was built from, matches against one immutable set: no
// lock, no allocation. The merged set is rebuilt only after the registry
// changed (a config load or unload).

// managedNames is the process-wide registry of the names that provisioned
// claimgate_verify handlers set.
var managedNames = newNameRegistry()

// nameRegistry counts, per normalised header name, the provisioned handlers
// that set it, and publishes the names as an immutable snapshot.
type nameRegistry struct {
	mu     sync.Mutex
	counts map[string]int // normalised name → handlers that set it
	set    atomic.Pointer[nameSet]
}

func newNameRegistry() *nameRegistry {
	return &nameRegistry{counts: make(map[string]int)}
}

// add counts one more handler setting each of names (normalised, without
// duplicates) and publishes the new snapshot.
func (r *nameRegistry) add(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		r.counts[n]++
	}
	r.publish()
}

// remove undoes add(names).
func (r *nameRegistry) remove(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		if r.counts[n] <= 1 {
			delete(r.counts, n)
		} else {
			r.counts[n]--
		}
	}
	r.publish()
}

// publish stores a fresh snapshot of the counted names; r.mu is held.
func (r *nameRegistry) publish() {
	names := make([]string, 0, len(r.counts))
	for n := range r.counts {
		names = append(names, n)
	}
	r.set.Store(newNameSet(names))
}

// snapshot returns the current names (nil when none).
func (r *nameRegistry) snapshot() *nameSet {
	return r.set.Load()
}

// nameSet is an immutable set of normalised header names, matched in every
// spelling without allocating.
type nameSet struct {
	// lengths has bit n&63 set when a name is n bytes long, and first bit
	// c when a name starts with byte c: most request headers (Accept,
	// Content-Type…) are ruled out by two ANDs, without comparing names.
	lengths uint64
	first   [4]uint64
	names   []string // normalised, sorted
}

// newNameSet builds a set from names, normalising them and dropping
// duplicates; nil when there are none.
func newNameSet(names []string) *nameSet {
	if len(names) == 0 {
		return nil
	}
	s := &nameSet{names: make([]string, 0, len(names))}
	for _, n := range names {
		s.names = append(s.names, normalizeHeaderName(n))
	}
	slices.Sort(s.names)
	s.names = slices.Compact(s.names)
	for _, n := range s.names {
		s.lengths |= lengthBit(len(n))
		if n != "" {
			s.first[n[0]>>6] |= 1 << (n[0] & 63)
		}
	}
	return s
}

// lengthBit is n's bit in nameSet.lengths. Lengths 64 apart share a bit:
// the mask only rules names out, sameHeader still compares lengths.
func lengthBit(n int) uint64 {
	return 1 << (uint(n) & 63)
}

// contains reports whether name, in any spelling, is in the set. A nil set
// is empty.
func (s *nameSet) contains(name string) bool {
	if s == nil || s.lengths&lengthBit(len(name)) == 0 || name == "" {
		return false
	}
	if c := normalizeHeaderByte(name[0]); s.first[c>>6]&(1<<(c&63)) == 0 {
		return false
	}
	for _, norm := range s.names {
		if sameHeader(name, norm) {
			return true
		}
	}
	return false
}

// union returns the names of a and b as one set (nil when both are empty).
func union(a, b *nameSet) *nameSet {
	var names []string
	if a != nil {
		names = append(names, a.names...)
	}
	if b != nil {
		names = append(names, b.names...)
	}
	return newNameSet(names)
}

// mergedSet is a handler's managed set: base, a registry snapshot, plus the
// handler's own names.
type mergedSet struct {
	base *nameSet
	set  *nameSet
}

// managedCache holds the handler's current mergedSet (behind a pointer so
// that Verify itself holds no atomic value and can be copied by Caddy's
// module machinery).
type managedCache struct {
	merged atomic.Pointer[mergedSet]
}

// managed returns the set the request being served is checked against:
// the header names of every loaded claimgate_verify and this handler's own
// header and strip names.
func (v *Verify) managed() *nameSet {
	if v.cache == nil { // not provisioned: only its own names, if any
		return v.own
	}
	base := v.registry.snapshot()
	if m := v.cache.merged.Load(); m != nil && m.base == base {
		return m.set
	}
	// The registry changed since the last request (a config was loaded
	// or unloaded). Concurrent requests may each build the same set;
	// the last one stored wins, and all are correct.
	m := &mergedSet{base: base, set: union(base, v.own)}
	v.cache.merged.Store(m)
	return m.set
}

// register adds the handler's header names to its registry (the
// process-wide one unless a test set another) and prepares its own set,
// header and strip names. Cleanup undoes the registration.
func (v *Verify) register() {
	if v.registry == nil {
		v.registry = managedNames
	}
	own := make([]string, 0, len(v.Headers)+len(v.Strip))
	for _, hc := range v.Headers {
		own = append(own, hc.Name)
	}
	v.registered = newNameSet(own) // header names, normalised and unique
	own = append(own, v.Strip...)
	v.own = newNameSet(own)
	v.cache = new(managedCache)
	if v.registered != nil {
		v.registry.add(v.registered.names)
	}
}

// unregister undoes register; it may run more than once, or without
// register (Cleanup after a failed Provision).
func (v *Verify) unregister() {
	if v.registered != nil {
		v.registry.remove(v.registered.names)
		v.registered = nil
	}
}
