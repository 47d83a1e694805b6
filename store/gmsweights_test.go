package store_test

import (
	"bytes"

	gms "github.com/dolthub/go-mysql-server/sql"

	"github.com/claimgate/claimgate/store"
)

// gmsWeights are go-mysql-server's collation weights. The embedded test
// server has no WEIGHT_STRING; the tests register these, as the package
// providing the demo database does for `dsn embedded`.
func gmsWeights(collation, s string) ([]byte, error) {
	id, err := gms.ParseCollation("", collation, false)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = id.WriteWeightString(&b, s)
	return b.Bytes(), err
}

func init() { store.RegisterCollationWeights(gmsWeights) }
