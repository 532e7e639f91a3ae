package schema

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// EnsureIndexes creates the declared indexes of every schema in db. Creating
// an index that exists with the same keys and options does nothing, so it
// runs at every start and reload. The first failure (a unique index over
// duplicate data, a name taken by a different index) is returned with the
// collection and index it concerns, so the operator can fix the data or
// the file.
func EnsureIndexes(ctx context.Context, db *store.Database, set *Set) error {
	if set == nil {
		return nil
	}
	names := slices.Sorted(maps.Keys(set.Collections))
	for _, n := range names {
		c := set.Collections[n]
		for _, ix := range c.Indexes {
			if err := db.Collection(n).CreateIndex(ctx, store.Index{Name: ix.Name, Keys: ix.Keys, Unique: ix.Unique}); err != nil {
				return fmt.Errorf("schema %s (%s:%d): index %s: %w", n, ix.Pos.File, ix.Pos.Line, ix.Name, err)
			}
		}
	}
	return nil
}
