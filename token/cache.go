package token

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// cache holds verified tokens by the SHA-256 of the raw token, so the hot
// path of a repeated token is one hash and one map lookup instead of a
// signature check. It is sharded to keep lock contention low; each shard
// holds at most size/shards entries, so the whole never exceeds size.
//
// Eviction is random: Go randomises where map iteration starts, so when a
// shard is full the first few entries iterated are a random sample; expired
// ones among them go first, otherwise the first one does. That is cheap, needs
// no bookkeeping on the hit path, and is good enough for a cache whose
// entries all expire within a token lifetime anyway.
type cache struct {
	shards   []cacheShard
	mask     uint32
	perShard int
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*entry
}

// entry is one verified token. Its claims map is shared by every hit and must
// not be modified.
type entry struct {
	claims map[string]any
	key    *Key   // the key that verified it: it must still be the source's key for kid
	kid    string // the kid the token named
	exp    int64  // unix seconds; never served at or after this
}

// evictSample is how many entries an insert into a full shard looks at.
const evictSample = 8

func newCache(size int) *cache {
	n := 1
	for n*2 <= size && n < 16 {
		n *= 2
	}
	c := &cache{shards: make([]cacheShard, n), mask: uint32(n - 1), perShard: size / n}
	for i := range c.shards {
		c.shards[i].entries = make(map[[sha256.Size]byte]*entry)
	}
	return c
}

// hashToken hashes the raw token without copying it: []byte(raw) would
// allocate a copy of up to 32 KiB on every request, and sha256 only reads its
// input, so the string's bytes can be passed as they are.
func hashToken(raw string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

func (c *cache) shard(sum *[sha256.Size]byte) *cacheShard {
	return &c.shards[uint32(sum[0])&c.mask]
}

// get returns the entry for sum when it has not expired at now.
func (c *cache) get(sum *[sha256.Size]byte, now time.Time) *entry {
	s := c.shard(sum)
	s.mu.RLock()
	e := s.entries[*sum]
	s.mu.RUnlock()
	if e == nil || now.Unix() >= e.exp {
		return nil
	}
	return e
}

func (c *cache) put(sum *[sha256.Size]byte, e *entry, now time.Time) {
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[*sum]; !ok && len(s.entries) >= c.perShard {
		s.evict(now.Unix())
	}
	s.entries[*sum] = e
}

// evict removes expired entries from a random sample, or one random entry.
func (s *cacheShard) evict(now int64) {
	var victim *[sha256.Size]byte
	removed, seen := 0, 0
	for k, e := range s.entries {
		if now >= e.exp {
			delete(s.entries, k)
			removed++
		} else if victim == nil {
			victim = &k
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if removed == 0 && victim != nil {
		delete(s.entries, *victim)
	}
}

func (c *cache) remove(sum *[sha256.Size]byte) {
	s := c.shard(sum)
	s.mu.Lock()
	delete(s.entries, *sum)
	s.mu.Unlock()
}

// len counts the entries (for tests).
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
