package demodb

import (
	"bytes"

	"github.com/dolthub/go-mysql-server/sql"
)

// CollationWeights returns the weights of s under the named collation as
// go-mysql-server computes them, which is how the demo server compares
// strings: equal weights exactly when the collation calls the strings equal.
// go-mysql-server has no WEIGHT_STRING; package demo registers this with
// store.RegisterCollationWeights.
func CollationWeights(collation, s string) ([]byte, error) {
	id, err := sql.ParseCollation("", collation, false)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := id.WriteWeightString(&b, s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
