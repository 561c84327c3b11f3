package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/sqlite"
)

// defaultDatabase is the embedded store careflow uses when no database is configured.
const defaultDatabase = "sqlite:careflow-data/careflow.db"

// storeConfig says which store to open and how.
type storeConfig struct {
	// Database is "sqlite:PATH" or a mongodb:// or mongodb+srv:// URI.
	Database string
	// SQLite options.
	SQLiteSync string
	// MongoDB options.
	SearchIndexes mongo.IndexMode
	FeedSettle    time.Duration
}

// database picks the database setting from --database and the older --mongodb-uri: --database wins;
// --mongodb-uri alone (flag or CAREFLOW_MONGODB_URI) still selects MongoDB; neither is the embedded store.
func database(db, mongoURI string) (string, error) {
	switch {
	case db != "" && mongoURI != "" && db != mongoURI:
		return "", fmt.Errorf("both --database (%s) and --mongodb-uri (%s) are set: give one", redact(db), redact(mongoURI))
	case db != "":
		return db, nil
	case mongoURI != "":
		return mongoURI, nil
	}
	return defaultDatabase, nil
}

// closer is a store that holds resources until closed.
type closer interface {
	storage.Store
	Close(ctx context.Context) error
}

// openStore opens the configured store.
func openStore(ctx context.Context, c storeConfig, registry *search.Registry, log *slog.Logger) (closer, error) {
	if path, ok, err := sqlite.ParseDSN(c.Database); ok {
		if err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, sqlite.Options{Path: path, Logger: log, Synchronous: c.SQLiteSync})
	}
	if strings.HasPrefix(c.Database, "mongodb://") || strings.HasPrefix(c.Database, "mongodb+srv://") {
		log.Info("storage: MongoDB store", "uri", redact(c.Database))
		return mongo.Open(ctx, mongo.Options{URI: c.Database, Types: definitions.ResourceTypes, Registry: registry, Logger: log,
			SearchIndexes: c.SearchIndexes, FeedSettle: c.FeedSettle})
	}
	return nil, fmt.Errorf("database %q: want sqlite:PATH (the embedded store, e.g. %s) or a mongodb:// or mongodb+srv:// URI", redact(c.Database), defaultDatabase)
}

// redact hides the password of a connection string.
func redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	creds, host, ok := strings.Cut(rest, "@")
	if !ok {
		return uri
	}
	user, _, hasPass := strings.Cut(creds, ":")
	if !hasPass {
		return uri
	}
	return scheme + "://" + user + ":***@" + host
}
