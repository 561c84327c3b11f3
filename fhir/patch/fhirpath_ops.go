package patch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/model"
	"github.com/careflow/careflow/fhir/outcome"
)

// cannot is the error of an operation that cannot be applied to this resource (422).
func (op *operation) cannot(code, format string, args ...any) error {
	return outcome.At(http.StatusUnprocessableEntity, code, op.where,
		"FHIRPath Patch %s %q: "+format, append([]any{op.kind, op.path.String()}, args...)...)
}

func (op *operation) apply(m *model.Model, root any) error {
	switch op.kind {
	case "add":
		return op.add(m, root)
	case "insert":
		return op.insert(m, root)
	case "delete":
		return op.delete(m, root)
	case "replace":
		return op.replace(m, root)
	case "move":
		return op.move(m, root)
	}
	return fmt.Errorf("fhirpath patch: operation type %q", op.kind)
}

// locate evaluates a path against the current state of the resource.
func (op *operation) locate(m *model.Model, root any, e *fhirpath.Expression) ([]fhirpath.Location, error) {
	res, _ := plain(root).(map[string]any)
	locs, err := e.Locate(m, res)
	switch {
	case errors.Is(err, fhirpath.ErrNotElement):
		return nil, op.cannot(outcome.CodeProcessing, "the path selects something that is not an element of the resource "+
			"(a computed value, or another resource through resolve(), which may only reach contained resources)")
	case err != nil:
		return nil, op.cannot(outcome.CodeProcessing, "%v", err)
	}
	return locs, nil
}

// single evaluates e and requires exactly one element (fhirpatch.html: "The FHIRPath statement must return
// a single element").
func (op *operation) single(m *model.Model, root any, e *fhirpath.Expression) (fhirpath.Location, error) {
	locs, err := op.locate(m, root, e)
	if err != nil {
		return fhirpath.Location{}, err
	}
	switch len(locs) {
	case 0:
		return fhirpath.Location{}, op.cannot(outcome.CodeProcessing, "%q matches no element", e.String())
	case 1:
		return locs[0], nil
	}
	return fhirpath.Location{}, op.cannot(outcome.CodeProcessing, "%q matches %d elements; it must match exactly one", e.String(), len(locs))
}

// add: the value becomes the element `name` of the element the path selects; appended to a list,
// or set when the element does not repeat and is absent.
func (op *operation) add(m *model.Model, root any) error {
	loc, err := op.single(m, root, op.path)
	if err != nil {
		return err
	}
	target, err := walk(root, loc.Steps)
	if err != nil {
		return fmt.Errorf("fhirpath patch: %s: %w", stepsString(loc.Steps), err)
	}
	container, typ := asObject(target), loc.Type
	if container == nil {
		// A primitive: its id and extensions are added to its "_name" sibling.
		if op.name != "extension" && op.name != "id" {
			return op.cannot(outcome.CodeInvalid, "the path selects a primitive (%s); only extension or id can be added to it", loc.Type)
		}
		if container, err = primitiveElement(root, loc.Steps); err != nil {
			return err
		}
		typ = "Element"
	}
	t, ok := m.Type(typ)
	if !ok {
		return op.cannot(outcome.CodeProcessing, "the path selects an element of unknown type %q", typ)
	}
	elem, err := op.element(m, t, op.name, op.value)
	if err != nil {
		return err
	}
	node, ext, err := op.build(m, elem, op.value)
	if err != nil {
		return err
	}
	if !elem.Array {
		names := []string{elem.Name}
		if elem.Choice != "" {
			names = names[:0]
			for _, alt := range t.Choices[elem.Choice] {
				names = append(names, alt.Name)
			}
		}
		for _, n := range names {
			if _, exists := container.get(n); exists {
				return op.cannot(outcome.CodeProcessing, "%s already has %s; use replace", typ, n)
			}
		}
		container.set(elem.Name, node, "")
		if ext != nil {
			container.set("_"+elem.Name, ext, elem.Name)
		}
		return nil
	}
	list := listOf(container, elem.Name)
	insertItem(container, elem.Name, len(list.items), node, ext)
	return nil
}

// insert: the value is inserted into the list the path names, at index (0 ≤ index ≤ length).
func (op *operation) insert(m *model.Model, root any) error {
	container, t, elem, err := op.list(m, root)
	if err != nil {
		return err
	}
	if err := op.checkType(m, t, elem, op.value); err != nil {
		return err
	}
	n := 0
	if l, ok := container.get(elem.Name); ok {
		n = len(asArray(l).items)
	}
	if op.index > n {
		return op.cannot(outcome.CodeProcessing, "index %d is out of range: the list has %d elements", op.index, n)
	}
	node, ext, err := op.build(m, elem, op.value)
	if err != nil {
		return err
	}
	insertItem(container, elem.Name, op.index, node, ext)
	return nil
}

// move: the element at source moves to destination (both indexes of the list the path names; the
// destination is its index in the resulting list).
func (op *operation) move(m *model.Model, root any) error {
	container, _, elem, err := op.list(m, root)
	if err != nil {
		return err
	}
	n := 0
	if l, ok := container.get(elem.Name); ok {
		n = len(asArray(l).items)
	}
	for _, idx := range []struct {
		name string
		v    int
	}{{"source", op.source}, {"destination", op.destination}} {
		if idx.v >= n {
			return op.cannot(outcome.CodeProcessing, "%s index %d is out of range: the list has %d elements", idx.name, idx.v, n)
		}
	}
	moveItem(asArray(mustGet(container, elem.Name)), op.source, op.destination)
	if exts := asArray(mustGet(container, "_"+elem.Name)); exts != nil {
		exts = alignedExts(container, elem.Name)
		moveItem(exts, op.source, op.destination)
	}
	return nil
}

// list resolves the path of insert and move, the path of a list ("Patient.identifier"): the single
// element its last member belongs to, and that member, which must repeat.
func (op *operation) list(m *model.Model, root any) (*object, *model.Type, *model.Element, error) {
	parent, name, ok := op.path.Parent()
	if !ok {
		return nil, nil, nil, outcome.At(http.StatusBadRequest, outcome.CodeInvalid, op.where,
			"FHIRPath Patch %s: the path %q must end with the name of a list element (such as Patient.identifier)", op.kind, op.path.String())
	}
	loc, err := op.single(m, root, parent)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := walk(root, loc.Steps)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("fhirpath patch: %s: %w", stepsString(loc.Steps), err)
	}
	container := asObject(v)
	t, known := m.Type(loc.Type)
	if container == nil || !known {
		return nil, nil, nil, op.cannot(outcome.CodeProcessing, "%q does not select an element with children", parent.String())
	}
	elem, ok := t.Elements[name]
	if !ok || !elem.Array {
		return nil, nil, nil, op.cannot(outcome.CodeInvalid, "%s.%s is not a list element of %s", loc.Type, name, loc.Type)
	}
	if l, ok := container.get(name); ok && asArray(l) == nil {
		return nil, nil, nil, op.cannot(outcome.CodeProcessing, "%s is not a JSON array", name)
	}
	return container, t, elem, nil
}

// delete removes the element the path selects with its id and extensions ("_name"); nothing when the
// path matches nothing. A list left empty is removed (FHIR JSON has no empty arrays).
func (op *operation) delete(m *model.Model, root any) error {
	locs, err := op.locate(m, root, op.path)
	if err != nil {
		return err
	}
	switch {
	case len(locs) == 0:
		return nil
	case len(locs) > 1:
		return op.cannot(outcome.CodeProcessing, "the path matches %d elements; delete removes exactly one", len(locs))
	case len(locs[0].Steps) == 0:
		return op.cannot(outcome.CodeProcessing, "the path selects the resource itself")
	}
	steps := locs[0].Steps
	parentSteps, last := steps[:len(steps)-1], steps[len(steps)-1]
	parent, err := objectAt(root, parentSteps)
	if err != nil {
		return fmt.Errorf("fhirpath patch: %s: %w", stepsString(parentSteps), err)
	}
	if last.Index < 0 {
		parent.remove(last.Name)
		parent.remove("_" + last.Name)
	} else {
		removeItem(parent, last.Name, last.Index)
	}
	pruneElement(root, parentSteps)
	return nil
}

// replace puts the value in place of the element the path selects (a whole element: the id and
// extensions of a replaced primitive go unless the value carries its own). A choice element may change
// type: deceasedBoolean is replaced by deceasedDateTime at the same place.
func (op *operation) replace(m *model.Model, root any) error {
	loc, err := op.single(m, root, op.path)
	if err != nil {
		return err
	}
	if len(loc.Steps) == 0 {
		return op.cannot(outcome.CodeProcessing, "the path selects the resource itself; use update to replace it")
	}
	parentSteps, last := loc.Steps[:len(loc.Steps)-1], loc.Steps[len(loc.Steps)-1]
	parent, err := objectAt(root, parentSteps)
	if err != nil {
		return fmt.Errorf("fhirpath patch: %s: %w", stepsString(parentSteps), err)
	}
	pt, err := typeAt(m, root, parentSteps)
	if err != nil {
		return op.cannot(outcome.CodeProcessing, "%v", err)
	}
	cur, ok := pt.Elements[last.Name]
	if !ok {
		return op.cannot(outcome.CodeProcessing, "%s has no element %s", pt.Name, last.Name)
	}
	name := cur.Name
	if cur.Choice != "" {
		name = cur.Choice
		if op.value.typ == "" {
			name = cur.Name // parts: keep the current type
		}
	}
	elem, err := op.element(m, pt, name, op.value)
	if err != nil {
		return err
	}
	node, ext, err := op.build(m, elem, op.value)
	if err != nil {
		return err
	}
	if last.Index >= 0 {
		asArray(mustGet(parent, last.Name)).items[last.Index] = node
		setItemExt(parent, last.Name, last.Index, ext)
		return nil
	}
	parent.rename(last.Name, elem.Name, node)
	parent.remove("_" + last.Name)
	if ext != nil {
		parent.set("_"+elem.Name, ext, elem.Name)
	}
	return nil
}

// typeAt returns the model type of the object steps lead to.
func typeAt(m *model.Model, root any, steps []fhirpath.Step) (*model.Type, error) {
	cur := root
	rt, _ := rawString(mustGet(asObject(root), "resourceType"))
	typ := rt
	for _, st := range steps {
		t, ok := m.Type(typ)
		if !ok {
			return nil, fmt.Errorf("unknown type %q", typ)
		}
		switch {
		case strings.HasPrefix(st.Name, "_"):
			typ = "Element"
		default:
			e, ok := t.Elements[st.Name]
			if !ok {
				return nil, fmt.Errorf("%s has no element %s", typ, st.Name)
			}
			typ = e.Type
		}
		next, err := walk(cur, []fhirpath.Step{st})
		if err != nil {
			return nil, err
		}
		cur = next
		if typ == "Resource" {
			typ, _ = rawString(mustGet(asObject(cur), "resourceType"))
		}
	}
	t, ok := m.Type(typ)
	if !ok {
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	return t, nil
}

// primitiveElement returns the "_name" object holding the id and extensions of the primitive steps lead
// to, creating it (and, for a primitive in a list, the aligned "_name" list) when absent.
func primitiveElement(root any, steps []fhirpath.Step) (*object, error) {
	parentSteps, last := steps[:len(steps)-1], steps[len(steps)-1]
	parent, err := objectAt(root, parentSteps)
	if err != nil {
		return nil, fmt.Errorf("fhirpath patch: %s: %w", stepsString(parentSteps), err)
	}
	key := "_" + last.Name
	if last.Index < 0 {
		if o := asObject(mustGet(parent, key)); o != nil {
			return o, nil
		}
		o := &object{}
		parent.set(key, o, last.Name)
		return o, nil
	}
	exts := alignedExts(parent, last.Name)
	if o := asObject(exts.items[last.Index]); o != nil {
		return o, nil
	}
	o := &object{}
	exts.items[last.Index] = o
	return o, nil
}

// pruneElement removes a primitive's "_name" object that a delete left empty, and a "_name" list left
// with only nulls.
func pruneElement(root any, steps []fhirpath.Step) {
	if len(steps) == 0 {
		return
	}
	last := steps[len(steps)-1]
	if !strings.HasPrefix(last.Name, "_") {
		return
	}
	o, err := objectAt(root, steps)
	if err != nil || len(o.members) > 0 {
		return
	}
	parent, err := objectAt(root, steps[:len(steps)-1])
	if err != nil {
		return
	}
	if last.Index < 0 {
		parent.remove(last.Name)
		return
	}
	setItemExt(parent, last.Name[1:], last.Index, nil)
}

func asObject(v any) *object {
	o, _ := v.(*object)
	return o
}

func asArray(v any) *array {
	a, _ := v.(*array)
	return a
}

func mustGet(o *object, key string) any {
	if o == nil {
		return nil
	}
	v, _ := o.get(key)
	return v
}

// listOf returns the list o[name], creating it empty when absent.
func listOf(o *object, name string) *array {
	if a := asArray(mustGet(o, name)); a != nil {
		return a
	}
	a := &array{}
	o.set(name, a, "")
	return a
}

// alignedExts returns the "_name" list of the primitive list o[name], created (nulls) or padded to the
// list's length.
func alignedExts(o *object, name string) *array {
	n := len(asArray(mustGet(o, name)).items)
	exts := asArray(mustGet(o, "_"+name))
	if exts == nil {
		exts = &array{}
		o.set("_"+name, exts, name)
	}
	for len(exts.items) < n {
		exts.items = append(exts.items, json.RawMessage("null"))
	}
	return exts
}

// insertItem inserts node into the list o[name] at i, keeping a "_name" list aligned (ext, or null).
func insertItem(o *object, name string, i int, node, ext any) {
	list := listOf(o, name)
	list.items = append(list.items[:i], append([]any{node}, list.items[i:]...)...)
	_, hasExts := o.get("_" + name)
	if !hasExts && ext == nil {
		return
	}
	exts := alignedExts(o, name) // padded to the new length with null
	if ext == nil {
		ext = json.RawMessage("null")
	}
	exts.items = append(exts.items[:i], append([]any{ext}, exts.items[i:len(exts.items)-1]...)...)
	pruneExts(o, name)
}

// moveItem moves item from to index to of a list.
func moveItem(a *array, from, to int) {
	v := a.items[from]
	a.items = append(a.items[:from], a.items[from+1:]...)
	a.items = append(a.items[:to], append([]any{v}, a.items[to:]...)...)
}

// removeItem removes item i of the list o[name] with its "_name" entry; an emptied list is removed.
func removeItem(o *object, name string, i int) {
	list := asArray(mustGet(o, name))
	list.items = append(list.items[:i], list.items[i+1:]...)
	if exts := asArray(mustGet(o, "_"+name)); exts != nil && i < len(exts.items) {
		exts.items = append(exts.items[:i], exts.items[i+1:]...)
	}
	if len(list.items) == 0 {
		o.remove(name)
		o.remove("_" + name)
	}
	pruneExts(o, name)
}

// setItemExt sets (or clears, ext nil) the "_name" entry of item i of the list o[name].
func setItemExt(o *object, name string, i int, ext any) {
	_, hasExts := o.get("_" + name)
	if !hasExts && ext == nil {
		return
	}
	exts := alignedExts(o, name)
	if ext == nil {
		ext = json.RawMessage("null")
	}
	exts.items[i] = ext
	pruneExts(o, name)
}

// pruneExts removes a "_name" list that holds only nulls.
func pruneExts(o *object, name string) {
	exts := asArray(mustGet(o, "_"+name))
	if exts == nil {
		return
	}
	for _, e := range exts.items {
		if !isNull(e) {
			return
		}
	}
	o.remove("_" + name)
}
