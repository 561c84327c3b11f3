//go:build cgo

package sqlite

import (
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// driverName names the SQLite driver in the start-up log.
const driverName = "mattn/go-sqlite3 (cgo)"

func sqliteDriver() driver.Driver { return &sqlite3.SQLiteDriver{} }
