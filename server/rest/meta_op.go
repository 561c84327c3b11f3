package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// The official definitions of the meta operations (resource-operations.html#meta).
const (
	metaOperationURL       = "http://hl7.org/fhir/OperationDefinition/Resource-meta"
	metaAddOperationURL    = "http://hl7.org/fhir/OperationDefinition/Resource-meta-add"
	metaDeleteOperationURL = "http://hl7.org/fhir/OperationDefinition/Resource-meta-delete"
)

// metaSystem serves GET|POST [base]/$meta: the profiles, tags and security labels in use on the server.
func (s *Server) metaSystem(c *gin.Context) { s.metaSummary(c, s.cfg.Types) }

// metaType serves GET|POST [base]/[type]/$meta: those in use on one type.
func (s *Server) metaType(c *gin.Context) { s.metaSummary(c, []string{c.Param("type")}) }

// metaSummary answers $meta at system or type level: the union of the labels of the current, non-deleted
// resources, read from their search-index fields (_tag, _security, _profile), one grouped scan per type.
// The index keeps system and code, not display, so the codings have no display; as the operation says,
// the summary has no versionId or lastUpdated.
func (s *Server) metaSummary(c *gin.Context, types []string) {
	ctx := c.Request.Context()
	codings := map[string]map[codingID]bool{"_security": {}, "_tag": {}}
	profiles := map[string]bool{}
	for _, typ := range types {
		fields := map[string]string{}
		var names []string
		for _, code := range []string{"_profile", "_security", "_tag"} {
			if p, ok := s.registry.Lookup(typ, code); ok {
				fields[code] = p.Field
				names = append(names, p.Field)
			}
		}
		values, err := s.store.Distinct(ctx, typ, names...)
		if err != nil {
			s.fail(c, storageError(fmt.Errorf("$meta on %s: %w", typ, err), typ, ""))
			return
		}
		for _, key := range values[fields["_profile"]] {
			profiles[key] = true
		}
		for _, code := range []string{"_security", "_tag"} {
			for _, key := range values[fields[code]] {
				if sys, cd, ok := search.CodingOfKey(key); ok {
					codings[code][codingID{sys, cd}] = true
				}
			}
		}
	}
	var sum metaLabels
	for p := range profiles {
		sum.Profile = append(sum.Profile, p)
	}
	sort.Strings(sum.Profile)
	sum.Security = sortedCodings(codings["_security"])
	sum.Tag = sortedCodings(codings["_tag"])
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sum); err != nil {
		s.fail(c, fmt.Errorf("$meta: encode: %w", err))
		return
	}
	s.writeJSON(c, http.StatusOK, metaParameters(bytes.TrimSpace(buf.Bytes())))
}

// metaLabels is the Meta of a $meta summary.
type metaLabels struct {
	Profile  []string     `json:"profile,omitempty"`
	Security []metaCoding `json:"security,omitempty"`
	Tag      []metaCoding `json:"tag,omitempty"`
}

type metaCoding struct {
	System string `json:"system,omitempty"`
	Code   string `json:"code"`
}

type codingID struct{ system, code string }

func sortedCodings(set map[codingID]bool) []metaCoding {
	out := make([]metaCoding, 0, len(set))
	for k := range set {
		out = append(out, metaCoding{System: k.system, Code: k.code})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].System != out[j].System {
			return out[i].System < out[j].System
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// metaParameters wraps a Meta as the operations' output: a Parameters with one "return" parameter.
func metaParameters(meta []byte) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"resourceType":"Parameters","parameter":[{"name":"return","valueMeta":`)
	buf.Write(meta)
	buf.WriteString(`}]}`)
	return buf.Bytes()
}

// metaInstance serves GET|POST [base]/[type]/[id]/$meta and [base]/[type]/[id]/_history/[vid]/$meta: the
// meta of the current (or that) version, as a read of the resource would return it (versionId and
// lastUpdated included).
func (s *Server) metaInstance(c *gin.Context) {
	typ, id := c.Param("type"), c.Param("id")
	ctx := c.Request.Context()
	var v *storage.Version
	var err error
	if raw := c.Param("vid"); raw != "" {
		vid, perr := strconv.ParseInt(raw, 10, 64)
		if perr != nil || vid < 1 {
			s.fail(c, outcome.New(http.StatusNotFound, outcome.CodeNotFound, "%s/%s has no version %q", typ, id, raw))
			return
		}
		v, err = s.store.VRead(ctx, typ, id, vid)
		if err == nil && v.Deleted {
			setVersionHeaders(c, v)
			s.fail(c, outcome.New(http.StatusGone, outcome.CodeDeleted, "version %d of %s/%s is a deletion", vid, typ, id))
			return
		}
	} else {
		v, err = s.store.Read(ctx, typ, id)
	}
	if err != nil {
		s.fail(c, storageError(err, typ, id))
		return
	}
	s.respondMeta(c, v)
}

// respondMeta answers with the meta of version v, and v's ETag and Last-Modified.
func (s *Server) respondMeta(c *gin.Context, v *storage.Version) {
	meta, ok, err := resource.Get(v.Body, "meta")
	if err != nil {
		s.fail(c, fmt.Errorf("%s/%s/_history/%d: stored body: %w", v.Type, v.ID, v.VersionID, err))
		return
	}
	if !ok { // the store stamps meta on every version; an empty Meta is no valid FHIR JSON either
		s.fail(c, fmt.Errorf("%s/%s/_history/%d: stored body has no meta", v.Type, v.ID, v.VersionID))
		return
	}
	setVersionHeaders(c, v)
	s.writeJSON(c, http.StatusOK, metaParameters(meta))
}

// metaAdd serves POST [base]/[type]/[id]/$meta-add.
func (s *Server) metaAdd(c *gin.Context) { s.metaEdit(c, "$meta-add", resource.AddLabels) }

// metaDelete serves POST [base]/[type]/[id]/$meta-delete.
func (s *Server) metaDelete(c *gin.Context) { s.metaEdit(c, "$meta-delete", resource.DeleteLabels) }

// metaByGet answers GET on $meta-add and $meta-delete, which change the resource: POST only.
func (s *Server) metaByGet(c *gin.Context) {
	c.Header("Allow", http.MethodPost)
	s.fail(c, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported,
		"%s changes the resource and is not idempotent: use POST", path.Base(c.Request.URL.Path)))
}

// metaVersionEdit answers $meta-add and $meta-delete on a historical version: careflow's versions are
// immutable, and R4 defines these operations on the resource only ([base]/[type]/[id]/$meta-add).
func (s *Server) metaVersionEdit(c *gin.Context) {
	s.fail(c, outcome.New(http.StatusMethodNotAllowed, outcome.CodeNotSupported,
		"versions are immutable on this server: $meta-add and $meta-delete apply to the current version at [base]/%s/%s/$meta-add or $meta-delete, and record a new version",
		c.Param("type"), c.Param("id")))
}

// metaEdit applies $meta-add or $meta-delete to the current version.
//
// The change is stored as a new version (method PATCH in history), written with a compare-and-set on the
// version it was applied to: the store has no atomic in-place update (docs/ARCHITECTURE.md), so a new
// version is the one way to change meta without losing a concurrent update, and it keeps the search
// index, history and ETags consistent. With If-Match a concurrent change is a 412; without, the edit is
// re-applied to the newer version. An edit that changes nothing (the labels are already there, or absent
// for a delete) stores nothing and answers the current meta.
func (s *Server) metaEdit(c *gin.Context, op string, edit func([]byte, resource.Labels) ([]byte, bool, error)) {
	typ, id := c.Param("type"), c.Param("id")
	m, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	body, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	labels, err := s.metaInput(op, body)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	pre, err := s.precondition(ctx, m, typ, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, _, err := s.editCurrent(ctx, typ, id, pre, op, func(body []byte) ([]byte, bool, error) {
		edited, changed, err := edit(body, labels)
		if err != nil {
			return nil, false, fmt.Errorf("%s %s/%s: %w", op, typ, id, err)
		}
		return edited, changed, nil
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respondMeta(c, v)
}
