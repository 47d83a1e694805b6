package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// pbkdf2Prefix starts every Django PBKDF2-HMAC-SHA256 hash.
const pbkdf2Prefix = "pbkdf2_sha256$"

// pbkdf2MaxIterations caps the work a stored hash may ask for. Django's
// default is 1,000,000 in 5.2 and grows by about 100,000 a release; ten times
// that takes several seconds and is plenty of headroom.
const pbkdf2MaxIterations = 10_000_000

// verifyPBKDF2 checks password against a Django hash
// "pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>". Django
// uses the salt as its UTF-8 text and the standard, padded base64 alphabet.
func verifyPBKDF2(encoded string, password []byte) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return fmt.Errorf("%w: pbkdf2_sha256 hash does not have four $-separated fields", ErrUnknownFormat)
	}
	iterations, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || iterations < 1 || iterations > pbkdf2MaxIterations {
		return fmt.Errorf("%w: pbkdf2_sha256 iterations not a number in 1..%d", ErrUnknownFormat, pbkdf2MaxIterations)
	}
	salt := parts[2]
	if salt == "" {
		return fmt.Errorf("%w: pbkdf2_sha256 salt is empty", ErrUnknownFormat)
	}
	want, err := base64.StdEncoding.Strict().DecodeString(parts[3])
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: pbkdf2_sha256 hash is not base64 of %d bytes", ErrUnknownFormat, sha256.Size)
	}
	got, err := pbkdf2.Key(sha256.New, string(password), []byte(salt), int(iterations), sha256.Size)
	if err != nil {
		// Only in FIPS 140-only mode, which refuses short salts and keys.
		return fmt.Errorf("%w: pbkdf2_sha256 refused by crypto/pbkdf2: %w", ErrUnknownFormat, err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}
