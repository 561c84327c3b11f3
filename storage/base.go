package storage

import "context"

type baseKey struct{}

// WithBase returns ctx carrying the public FHIR base URL of the request being served (no trailing slash).
// Store decorators that must tell absolute references to this server from references to others
// (storage/refint) read it with Base; the interaction layer sets it on every call.
func WithBase(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseKey{}, base)
}

// Base returns the base URL WithBase put into ctx, or "".
func Base(ctx context.Context) string {
	b, _ := ctx.Value(baseKey{}).(string)
	return b
}
