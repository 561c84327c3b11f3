package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Labels are the profiles, security labels and tags of a Meta: the three sets that the $meta-add and
// $meta-delete operations edit (resource-operations.html#meta-add). Codings are kept as the raw JSON the
// client sent.
type Labels struct {
	Profile  []string
	Security []json.RawMessage
	Tag      []json.RawMessage
}

// Empty reports whether l holds no label.
func (l Labels) Empty() bool { return len(l.Profile)+len(l.Security)+len(l.Tag) == 0 }

// ParseLabels reads the labels of a Meta (its other elements are ignored). Every coding needs a code:
// a label is identified by system and code.
func ParseLabels(meta json.RawMessage) (Labels, error) {
	var m struct {
		Profile  []string          `json:"profile"`
		Security []json.RawMessage `json:"security"`
		Tag      []json.RawMessage `json:"tag"`
	}
	if err := json.Unmarshal(meta, &m); err != nil {
		return Labels{}, fmt.Errorf("resource: meta: %w", err)
	}
	for _, list := range []struct {
		name    string
		codings []json.RawMessage
	}{{"security", m.Security}, {"tag", m.Tag}} {
		for i, c := range list.codings {
			k, err := codingKey(c)
			if err != nil {
				return Labels{}, fmt.Errorf("resource: meta.%s[%d]: %w", list.name, i, err)
			}
			if k.code == "" {
				return Labels{}, fmt.Errorf("resource: meta.%s[%d] has no code", list.name, i)
			}
		}
	}
	for i, p := range m.Profile {
		if p == "" {
			return Labels{}, fmt.Errorf("resource: meta.profile[%d] is empty", i)
		}
	}
	return Labels{Profile: m.Profile, Security: m.Security, Tag: m.Tag}, nil
}

// AddLabels returns data with the labels of l that meta does not hold yet appended to meta.profile,
// meta.security and meta.tag. A coding already held (same system and code; version and display are
// ignored) and a profile already held (same URL) are left as they are. changed is false, and data is
// returned as it is, when there was nothing to add.
func AddLabels(data []byte, l Labels) (out []byte, changed bool, err error) {
	return editLabels(data, l, true)
}

// DeleteLabels returns data without the labels of l in meta (matched as AddLabels matches them). Labels
// that meta does not hold are no error; changed is false when nothing was removed.
func DeleteLabels(data []byte, l Labels) (out []byte, changed bool, err error) {
	return editLabels(data, l, false)
}

// codingID identifies a tag or security label.
type codingID struct{ system, code string }

func codingKey(raw json.RawMessage) (codingID, error) {
	var c struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return codingID{}, err
	}
	return codingID{c.System, c.Code}, nil
}

// metaOrder ranks Meta's elements in their specified order, for inserting one that is absent.
var metaOrder = map[string]int{"id": 1, "extension": 2, "versionId": 3, "lastUpdated": 4, "source": 5, "profile": 6, "_profile": 7, "security": 8, "tag": 9}

// setMeta replaces key's value in meta, or inserts it before the first element that follows it in
// Meta's order (at the end when there is none).
func setMeta(meta object, key string, value json.RawMessage) object {
	pos := len(meta)
	for i, m := range meta {
		if m.key == key {
			meta[i].value = value
			return meta
		}
		if r, ok := metaOrder[m.key]; ok && r > metaOrder[key] && i < pos {
			pos = i
		}
	}
	meta = append(meta, member{})
	copy(meta[pos+1:], meta[pos:])
	meta[pos] = member{key, value}
	return meta
}

func editLabels(data []byte, l Labels, add bool) ([]byte, bool, error) {
	obj, err := parseObject(data)
	if err != nil {
		return nil, false, err
	}
	var meta object
	if raw, ok := obj.get("meta"); ok {
		if meta, err = parseObject(raw); err != nil {
			return nil, false, fmt.Errorf("resource: meta: %w", err)
		}
	}
	changed := false
	for _, list := range []struct {
		key     string
		codings []json.RawMessage
	}{{"security", l.Security}, {"tag", l.Tag}} {
		var m bool
		if meta, m, err = editCodings(meta, list.key, list.codings, add); err != nil {
			return nil, false, err
		}
		changed = changed || m
	}
	var m bool
	if meta, m, err = editProfiles(meta, l.Profile, add); err != nil {
		return nil, false, err
	}
	if !(changed || m) {
		return data, false, nil
	}
	if len(meta) == 0 {
		obj = obj.without("meta")
	} else {
		obj = obj.set("meta", meta.encode(), "resourceType", "id")
	}
	return obj.encode(), true, nil
}

// editCodings adds or removes codings in meta's list key.
func editCodings(meta object, key string, codings []json.RawMessage, add bool) (object, bool, error) {
	if len(codings) == 0 {
		return meta, false, nil
	}
	var have []json.RawMessage
	if raw, ok := meta.get(key); ok {
		if err := json.Unmarshal(raw, &have); err != nil {
			return nil, false, fmt.Errorf("resource: meta.%s: %w", key, err)
		}
	}
	held := map[codingID]bool{}
	for _, c := range have {
		k, err := codingKey(c)
		if err != nil {
			return nil, false, fmt.Errorf("resource: meta.%s: %w", key, err)
		}
		held[k] = true
	}
	n := len(have)
	given := map[codingID]bool{}
	for _, c := range codings {
		k, err := codingKey(c)
		if err != nil {
			return nil, false, fmt.Errorf("resource: meta.%s: %w", key, err)
		}
		if add && !held[k] {
			have = append(have, c)
			held[k] = true
		}
		given[k] = true
	}
	if add {
		if len(have) == n {
			return meta, false, nil
		}
		return setMeta(meta, key, joinArray(have)), true, nil
	}
	kept := have[:0:0]
	for _, c := range have {
		if k, _ := codingKey(c); !given[k] {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(have) {
		return meta, false, nil
	}
	if len(kept) == 0 {
		return meta.without(key), true, nil
	}
	return setMeta(meta, key, joinArray(kept)), true, nil
}

// editProfiles adds or removes profile URLs, keeping a _profile array (primitive extensions) aligned.
func editProfiles(meta object, urls []string, add bool) (object, bool, error) {
	if len(urls) == 0 {
		return meta, false, nil
	}
	var have []string
	if raw, ok := meta.get("profile"); ok {
		if err := json.Unmarshal(raw, &have); err != nil {
			return nil, false, fmt.Errorf("resource: meta.profile: %w", err)
		}
	}
	var ext []json.RawMessage
	rawExt, hasExt := meta.get("_profile")
	if hasExt {
		if err := json.Unmarshal(rawExt, &ext); err != nil {
			return nil, false, fmt.Errorf("resource: meta._profile: %w", err)
		}
		for len(ext) < len(have) {
			ext = append(ext, json.RawMessage("null"))
		}
	}
	held := map[string]bool{}
	for _, p := range have {
		held[p] = true
	}
	var values []json.RawMessage
	for _, p := range have {
		values = append(values, quote(p))
	}
	if add {
		n := len(values)
		for _, p := range urls {
			if !held[p] {
				held[p] = true
				values = append(values, quote(p))
				if hasExt {
					ext = append(ext, json.RawMessage("null"))
				}
			}
		}
		if len(values) == n {
			return meta, false, nil
		}
		meta = setMeta(meta, "profile", joinArray(values))
		if hasExt {
			meta = setMeta(meta, "_profile", joinArray(ext))
		}
		return meta, true, nil
	}
	drop := map[string]bool{}
	for _, p := range urls {
		drop[p] = true
	}
	var keptValues, keptExt []json.RawMessage
	for i, p := range have {
		if drop[p] {
			continue
		}
		keptValues = append(keptValues, values[i])
		if hasExt {
			keptExt = append(keptExt, ext[i])
		}
	}
	if len(keptValues) == len(values) {
		return meta, false, nil
	}
	if len(keptValues) == 0 {
		return meta.without("profile").without("_profile"), true, nil
	}
	meta = setMeta(meta, "profile", joinArray(keptValues))
	if hasExt {
		if allNull(keptExt) {
			meta = meta.without("_profile")
		} else {
			meta = setMeta(meta, "_profile", joinArray(keptExt))
		}
	}
	return meta, true, nil
}

func allNull(list []json.RawMessage) bool {
	for _, e := range list {
		if !bytes.Equal(bytes.TrimSpace(e), []byte("null")) {
			return false
		}
	}
	return true
}

// joinArray writes items as a JSON array without re-encoding them (json.Marshal would escape <, > and &).
func joinArray(items []json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}
