//go:build !cgo

package sqlite

import (
	"database/sql"
	"database/sql/driver"

	msqlite "modernc.org/sqlite"
)

// driverName names the SQLite driver in the start-up log.
const driverName = "modernc.org/sqlite (pure Go: built without cgo)"

func sqliteDriver() driver.Driver { return &msqlite.Driver{} }

// watchRes would make conn report the res rows it changes; modernc.org/sqlite's connections offer a
// pre-update hook only, which careflow does not use: ok is false and the store runs without its version
// cache.
func watchRes(*sql.Conn, func(rid int64)) (ok bool, err error) { return false, nil }
