package interaction

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/careflow/careflow/auth"
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

// MetaSummary serves GET|POST [base]/$meta (typ "": the profiles, tags and security labels in use on the
// server) and [base]/[type]/$meta (those in use on one type).
func (s *Service) MetaSummary(ctx context.Context, call Call, typ string) (*Result, error) {
	types, name := s.cfg.Types, "$meta-system"
	if typ != "" {
		types, name = []string{typ}, "$meta-type"
	}
	ctx, dec, err := s.authorize(ctx, call, auth.Request{Interaction: name, Type: typ})
	if err != nil {
		return nil, err
	}
	return s.metaSummary(ctx, omitted(types, dec))
}

// metaSummary answers $meta at system or type level: the union of the labels of the current, non-deleted
// resources, read from their search-index fields (_tag, _security, _profile), one grouped scan per type.
// The index keeps system and code, not display, so the codings have no display; as the operation says,
// the summary has no versionId or lastUpdated.
func (s *Service) metaSummary(ctx context.Context, types []string) (*Result, error) {
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
			return nil, storageError(fmt.Errorf("$meta on %s: %w", typ, err), typ, "")
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
		return nil, fmt.Errorf("$meta: encode: %w", err)
	}
	return &Result{Status: http.StatusOK, Body: metaParameters(bytes.TrimSpace(buf.Bytes()))}, nil
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

// MetaInstance serves GET|POST [base]/[type]/[id]/$meta (vid "") and [base]/[type]/[id]/_history/[vid]/$meta:
// the meta of the current (or that) version, as a read of the resource would return it (versionId and
// lastUpdated included). A version that is a deletion is a 410 whose Result carries it.
func (s *Service) MetaInstance(ctx context.Context, call Call, typ, id, vid string) (*Result, error) {
	ctx, _, err := s.authorize(ctx, call, auth.Request{Interaction: "$meta-instance", Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	var v *storage.Version
	if vid != "" {
		v, err = s.version(ctx, typ, id, vid)
		if v != nil && v.Deleted {
			return &Result{Version: v}, err
		}
	} else if v, err = s.store.Read(ctx, typ, id); err != nil {
		err = storageError(err, typ, id)
	}
	if err != nil {
		return nil, err
	}
	return metaOf(v)
}

// metaOf answers with the meta of version v.
func metaOf(v *storage.Version) (*Result, error) {
	meta, ok, err := resource.Get(v.Body, "meta")
	if err != nil {
		return nil, fmt.Errorf("%s/%s/_history/%d: stored body: %w", v.Type, v.ID, v.VersionID, err)
	}
	if !ok { // the store stamps meta on every version; an empty Meta is no valid FHIR JSON either
		return nil, fmt.Errorf("%s/%s/_history/%d: stored body has no meta", v.Type, v.ID, v.VersionID)
	}
	return &Result{Status: http.StatusOK, Version: v, Body: metaParameters(meta)}, nil
}

// MetaAdd serves POST [base]/[type]/[id]/$meta-add.
func (s *Service) MetaAdd(ctx context.Context, call Call, typ, id string, body []byte, ifMatchValue string) (*Result, error) {
	return s.metaEdit(ctx, call, typ, id, body, ifMatchValue, "$meta-add", resource.AddLabels)
}

// MetaDelete serves POST [base]/[type]/[id]/$meta-delete.
func (s *Service) MetaDelete(ctx context.Context, call Call, typ, id string, body []byte, ifMatchValue string) (*Result, error) {
	return s.metaEdit(ctx, call, typ, id, body, ifMatchValue, "$meta-delete", resource.DeleteLabels)
}

// metaEdit applies $meta-add or $meta-delete to the current version.
//
// The change is stored as a new version (method PATCH in history), written with a compare-and-set on the
// version it was applied to: the store has no atomic in-place update (docs/ARCHITECTURE.md), so a new
// version is the one way to change meta without losing a concurrent update, and it keeps the search
// index, history and ETags consistent. With If-Match a concurrent change is a 412; without, the edit is
// re-applied to the newer version. An edit that changes nothing (the labels are already there, or absent
// for a delete) stores nothing and answers the current meta.
func (s *Service) metaEdit(ctx context.Context, call Call, typ, id string, body []byte, ifMatchValue, op string,
	edit func([]byte, resource.Labels) ([]byte, bool, error)) (*Result, error) {
	if err := s.writable(typ); err != nil {
		return nil, err
	}
	ctx, _, err := s.authorize(call.context(ctx), call, auth.Request{Interaction: op, Type: typ, ID: id})
	if err != nil {
		return nil, err
	}
	m, err := ifMatch("If-Match", ifMatchValue)
	if err != nil {
		return nil, err
	}
	labels, err := s.metaInput(op, body)
	if err != nil {
		return nil, err
	}
	pre, err := s.precondition(ctx, m, typ, id)
	if err != nil {
		return nil, err
	}
	v, _, err := s.editCurrent(ctx, typ, id, pre, op, func(body []byte) ([]byte, bool, error) {
		edited, changed, err := edit(body, labels)
		if err != nil {
			return nil, false, fmt.Errorf("%s %s/%s: %w", op, typ, id, err)
		}
		return edited, changed, nil
	})
	if err != nil {
		return nil, err
	}
	return metaOf(v)
}
