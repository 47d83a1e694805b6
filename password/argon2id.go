package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2idPrefix starts every argon2id PHC string.
const argon2idPrefix = "$argon2id$"

// Caps on argon2id parameters read from a stored hash (or asked of
// HashArgon2id). Memory is what a single verification allocates, and a
// hostile or corrupt row must not make a login allocate gigabytes: 256 MiB is
// over ten times OWASP's minimum and above every common library default.
// Time multiplies the work; threads only spreads it but each one is a
// goroutine. The salt and key bounds follow the argon2 and PHC
// recommendations (salt >= 8 bytes; a key under 16 bytes is guessable).
const (
	argon2MaxMemory  = 256 * 1024 // KiB
	argon2MaxTime    = 10
	argon2MaxThreads = 16
	argon2MinSalt    = 8
	argon2MaxSalt    = 64
	argon2MinKey     = 16
	argon2MaxKey     = 128
)

// b64 is the PHC string encoding: standard alphabet, no padding, and strict
// so that each hash has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// argon2idHash is a parsed argon2id PHC string.
type argon2idHash struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

// verifyArgon2id checks password against an argon2id PHC string.
func verifyArgon2id(encoded string, password []byte) error {
	h, err := parseArgon2id(encoded)
	if err != nil {
		return err
	}
	p := h.params
	key := argon2.IDKey(password, h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(key, h.key) != 1 {
		return ErrMismatch
	}
	return nil
}

// parseArgon2id parses "$argon2id$v=19$m=<KiB>,t=<n>,p=<n>$<salt>$<key>" and
// checks every parameter against the caps. Errors name the field that is
// wrong, never its value.
func parseArgon2id(encoded string) (*argon2idHash, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, fmt.Errorf("%w: argon2id hash does not have six $-separated fields", ErrUnknownFormat)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: argon2id version is not %d", ErrUnknownFormat, argon2.Version)
	}
	p, err := parseArgon2Params(parts[3])
	if err != nil {
		return nil, err
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return nil, fmt.Errorf("%w: argon2id salt is not unpadded base64", ErrUnknownFormat)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return nil, fmt.Errorf("%w: argon2id key is not unpadded base64", ErrUnknownFormat)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownFormat, err)
	}
	return &argon2idHash{params: p, salt: salt, key: key}, nil
}

// parseArgon2Params parses "m=<KiB>,t=<n>,p=<n>" in exactly that order, as
// the PHC string format requires; optional keyid/data fields are refused.
func parseArgon2Params(s string) (Argon2Params, error) {
	var p Argon2Params
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, fmt.Errorf("%w: argon2id parameters are not m,t,p", ErrUnknownFormat)
	}
	m, errM := parseParam(fields[0], "m=", 32)
	t, errT := parseParam(fields[1], "t=", 32)
	th, errP := parseParam(fields[2], "p=", 8)
	if errM != nil || errT != nil || errP != nil {
		return p, fmt.Errorf("%w: argon2id parameters are not m=<n>,t=<n>,p=<n>", ErrUnknownFormat)
	}
	p.Memory, p.Time, p.Threads = uint32(m), uint32(t), uint8(th)
	return p, nil
}

// parseParam parses "<name><decimal>" into an unsigned integer of bits bits.
func parseParam(field, name string, bits int) (uint64, error) {
	digits, ok := strings.CutPrefix(field, name)
	if !ok {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(digits, 10, bits)
}

// validate checks p against the caps; argon2 itself needs at least 8 KiB of
// memory per thread and one pass.
func (p Argon2Params) validate() error {
	switch {
	case p.Threads < 1 || p.Threads > argon2MaxThreads:
		return fmt.Errorf("argon2id parallelism outside 1..%d", argon2MaxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > argon2MaxMemory:
		return fmt.Errorf("argon2id memory outside 8*p..%d KiB", argon2MaxMemory)
	case p.Time < 1 || p.Time > argon2MaxTime:
		return fmt.Errorf("argon2id time outside 1..%d", argon2MaxTime)
	case p.SaltLen < argon2MinSalt || p.SaltLen > argon2MaxSalt:
		return fmt.Errorf("argon2id salt length outside %d..%d bytes", argon2MinSalt, argon2MaxSalt)
	case p.KeyLen < argon2MinKey || p.KeyLen > argon2MaxKey:
		return fmt.Errorf("argon2id key length outside %d..%d bytes", argon2MinKey, argon2MaxKey)
	}
	return nil
}

// weakerThan reports whether any parameter of p is below the same parameter
// of want.
func (p Argon2Params) weakerThan(want Argon2Params) bool {
	return p.Memory < want.Memory || p.Time < want.Time || p.Threads < want.Threads ||
		p.SaltLen < want.SaltLen || p.KeyLen < want.KeyLen
}

// HashArgon2id returns a PHC-format argon2id hash of password with a fresh
// random salt. p must be within the caps Verify applies (so that every hash
// made here verifies), else an error is returned.
func HashArgon2id(password []byte, p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("hashing with argon2id: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt) // never fails: crypto/rand crashes the program instead
	key := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}
