//go:build cgo

package sqlite

import (
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// driverName names the SQLite driver in the start-up log.
const driverName = "mattn/go-sqlite3 (cgo)"

func sqliteDriver() driver.Driver { return &sqlite3.SQLiteDriver{} }

// watchRes makes conn call fn with the rowid of every res row it inserts, updates or deletes, as the
// change happens (inside the open transaction): SQLite's update hook. ok is false when the driver has none.
func watchRes(conn *sql.Conn, fn func(rid int64)) (ok bool, err error) {
	err = conn.Raw(func(dc any) error {
		c, isSQLite := dc.(*sqlite3.SQLiteConn)
		if !isSQLite {
			return fmt.Errorf("sqlite: unexpected driver connection %T", dc)
		}
		c.RegisterUpdateHook(func(_ int, _, table string, rowid int64) {
			if table == "res" {
				fn(rowid)
			}
		})
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: update hook: %w", err)
	}
	return true, nil
}
