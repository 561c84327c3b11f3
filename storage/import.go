package storage

import (
	"errors"
	"fmt"
)

// ErrBadImport reports versions that cannot be imported as one resource's history (see CheckImport).
var ErrBadImport = errors.New("storage: invalid import")

// CheckImport checks what a store's ImportResource method (careflow copy) is given: the complete history
// of typ/id, oldest first, as another store listed it — versions of that resource only (Type and ID
// empty or equal to typ and id), with increasing version numbers and a lastUpdated each, a body on every
// version but deletions and none on them — and the search index of the current version, which must be
// empty when that version is a deletion.
func CheckImport(typ, id string, versions []*Version, index map[string]any) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w of %s/%s: "+format, append([]any{ErrBadImport, typ, id}, args...)...)
	}
	if typ == "" || id == "" {
		return bad("no resource type or id")
	}
	if len(versions) == 0 {
		return bad("no versions")
	}
	var prev int64
	for _, v := range versions {
		switch {
		case v == nil:
			return bad("a nil version")
		case v.Type != "" && v.Type != typ, v.ID != "" && v.ID != id:
			return bad("version %d is one of %s/%s", v.VersionID, v.Type, v.ID)
		case v.VersionID <= prev:
			return bad("version %d follows version %d (want increasing version numbers, oldest first)", v.VersionID, prev)
		case v.LastUpdated.IsZero():
			return bad("version %d has no lastUpdated", v.VersionID)
		case v.Deleted && v.Body != nil:
			return bad("version %d is a deletion with a body", v.VersionID)
		case !v.Deleted && len(v.Body) == 0:
			return bad("version %d has no body", v.VersionID)
		}
		prev = v.VersionID
	}
	if versions[len(versions)-1].Deleted && len(index) > 0 {
		return bad("the current version is a deletion, yet search values are given")
	}
	return nil
}
