//go:build !cgo

package sqlite

import (
	"database/sql/driver"

	msqlite "modernc.org/sqlite"
)

// driverName names the SQLite driver in the start-up log.
const driverName = "modernc.org/sqlite (pure Go: built without cgo)"

func sqliteDriver() driver.Driver { return &msqlite.Driver{} }
