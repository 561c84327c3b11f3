package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

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

// openContext bounds opening the store of database to 60 s when it is MongoDB (reaching a server). The
// embedded store's file is local and opens at once, except when its layout is upgraded: that runs in one
// transaction as long as the file needs (the 10,000-patient file's token-key rewrite takes 16 s), and a
// bound would roll it back at every start of a large file, which could then never open.
func openContext(ctx context.Context, database string) (context.Context, context.CancelFunc) {
	if _, ok, _ := sqlite.ParseDSN(database); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 60*time.Second)
}

// openStore opens the configured store.
func openStore(ctx context.Context, c storeConfig, registry *search.Registry, log *slog.Logger) (closer, error) {
	if path, ok, err := sqlite.ParseDSN(c.Database); ok {
		if err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, sqlite.Options{Path: path, Logger: log, Synchronous: c.SQLiteSync, Reindex: registry.IndexBody})
	}
	if strings.HasPrefix(c.Database, "mongodb://") || strings.HasPrefix(c.Database, "mongodb+srv://") {
		log.Info("storage: MongoDB store", "uri", redact(c.Database))
		return mongo.Open(ctx, mongo.Options{URI: c.Database, Types: definitions.ResourceTypes, Registry: registry, Logger: log,
			SearchIndexes: c.SearchIndexes, FeedSettle: c.FeedSettle})
	}
	return nil, fmt.Errorf("database %q: want sqlite:PATH (the embedded store, e.g. %s) or a mongodb:// or mongodb+srv:// URI", redact(c.Database), defaultDatabase)
}

// checkMongoURI checks the syntax of a MongoDB URI at start, without contacting anything. The driver's
// parser resolves a mongodb+srv:// URI's hosts (DNS SRV and TXT records) while it parses, with lookups
// that take no context: at start that would make a DNS server that fails refuse the start, and one that
// does not answer hold it, where careflow must start and answer 503 until its database can be reached
// (the store opens in the background and resolves the name there, again at every attempt). So such a URI
// is checked as the mongodb:// URI with the same host and options, plus the rules of SRV URIs: one host
// name, no port; srvServiceName and srvMaxHosts only there, checked here.
func checkMongoURI(uri string) error {
	scheme, rest, _ := strings.Cut(uri, "://")
	if !strings.EqualFold(scheme, connstring.SchemeMongoDBSRV) {
		_, err := connstring.ParseAndValidate(uri)
		return err
	}
	// Drop the SRV-only options (a mongodb:// URI may not carry them) once checked.
	plain, query, hasQuery := strings.Cut(rest, "?")
	var kept []string
	maxHosts := 0
	if hasQuery {
		for _, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
			key, value, _ := strings.Cut(pair, "=")
			switch strings.ToLower(key) {
			case "srvservicename":
				if len(value) < 1 || len(value) > 62 {
					return fmt.Errorf("srvServiceName value must be between 1 and 62 characters")
				}
				continue
			case "srvmaxhosts":
				n, err := strconv.Atoi(value)
				if err != nil || n < 0 {
					return fmt.Errorf("srvMaxHosts %q: want a non-negative integer", value)
				}
				maxHosts = n
				continue
			case "directconnection":
				if strings.EqualFold(value, "true") {
					return fmt.Errorf("a direct connection cannot be made if an SRV URI is used")
				}
			}
			kept = append(kept, pair)
		}
	}
	if len(kept) > 0 {
		plain += "?" + strings.Join(kept, "&")
	}
	cs, err := connstring.ParseAndValidate("mongodb://" + plain)
	if err != nil {
		return err
	}
	if len(cs.Hosts) != 1 {
		return fmt.Errorf("a mongodb+srv:// URI has one host name, not %d", len(cs.Hosts))
	}
	if _, _, err := net.SplitHostPort(cs.Hosts[0]); err == nil {
		return fmt.Errorf("a mongodb+srv:// URI has no port number (host %q)", cs.Hosts[0])
	}
	if maxHosts > 0 && (cs.ReplicaSet != "" || cs.LoadBalanced) {
		return fmt.Errorf("srvMaxHosts cannot be a positive value if a replica set name or loadBalanced is set")
	}
	return nil
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
