package scheduling

import (
	"context"
	"errors"
	"fmt"

	"github.com/careflow/careflow/adapters/internal/fhirread"
	"github.com/careflow/careflow/storage"
)

// Prepare validates and indexes a resource body as the API's write pipeline does (cmd/careflow passes
// interaction.Pipeline's).
type Prepare func(typ string, body []byte) (storage.Write, error)

// releasing are the Appointment statuses that give its slots back.
var releasing = map[string]bool{"cancelled": true, "entered-in-error": true}

// FreeSlotsEffect is the update effect (storage/rules.Effect) that frees an Appointment's slots when an
// update cancels it — status cancelled or entered-in-error from any other — whatever interaction makes the
// update (PUT, PATCH, a transaction entry, $book): each Slot it references (before or after the update)
// that is busy and not overbooked, or held (busy-tentative) for it by $hold, becomes free without the
// hold, in the same transaction as the Appointment, with ifMatch on the version read.
func FreeSlotsEffect(prepare Prepare) func(ctx context.Context, r storage.Store, previous, proposed []byte) ([]storage.TxOp, error) {
	return func(ctx context.Context, r storage.Store, previous, proposed []byte) ([]storage.TxOp, error) {
		if previous == nil {
			return nil, nil // created cancelled: it never held a slot
		}
		var before, after appointmentBody
		if err := fhirread.Decode(previous, "Appointment", &before); err != nil {
			return nil, fmt.Errorf("scheduling: %w", err)
		}
		if err := fhirread.Decode(proposed, "Appointment", &after); err != nil {
			return nil, fmt.Errorf("scheduling: %w", err)
		}
		if !releasing[after.Status] || releasing[before.Status] {
			return nil, nil
		}
		seen := map[string]bool{}
		var ops []storage.TxOp
		for _, ref := range append(before.Slot, after.Slot...) {
			key := ref.Key()
			if fhirread.RefType(key) != "Slot" || seen[key] {
				continue
			}
			seen[key] = true
			id := fhirread.RefID(key)
			v, err := r.Read(ctx, "Slot", id)
			var gone *storage.GoneError
			if errors.Is(err, storage.ErrNotFound) || errors.As(err, &gone) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("scheduling: read Slot/%s: %w", id, err)
			}
			var sl Slot
			if err := fhirread.Decode(v.Body, "Slot", &sl); err != nil {
				return nil, fmt.Errorf("scheduling: Slot/%s: %w", id, err)
			}
			holder, _, held := sl.hold()
			if !(sl.Status == "busy" && !sl.Overbooked || sl.Status == "busy-tentative" && held && holder == "Appointment/"+after.ID) {
				continue
			}
			body, err := freeSlot(v.Body)
			if err != nil {
				return nil, fmt.Errorf("scheduling: Slot/%s: %w", id, err)
			}
			w, err := prepare("Slot", body)
			if err != nil {
				return nil, fmt.Errorf("scheduling: Slot/%s: %w", id, err)
			}
			w.ID, w.Method = id, "PUT"
			ops = append(ops, storage.TxOp{Kind: storage.TxUpdate, Write: w, Precondition: storage.Precondition{VersionID: v.VersionID}})
		}
		return ops, nil
	}
}
