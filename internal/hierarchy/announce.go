package hierarchy

import "context"

// Announcer tells the other proxies that the hierarchy collection changed,
// so that they drop their cached values too (fleet.KindHierarchy through
// Redis). It must not block for long: it runs after a write, before the
// answer.
type Announcer func(ctx context.Context, collection string)

// SetAnnouncer makes Changed call f (nil: this process only).
func (r *Resolver) SetAnnouncer(f Announcer) {
	if f == nil {
		r.announce.Store(nil)
		return
	}
	r.announce.Store(&f)
}

// Changed is what a write to the hierarchy collection made by this process
// calls: the cached values are dropped here at once and the change is
// announced to the other proxies, which drop theirs (Invalidate) when the
// announcement arrives. Without an announcer, or when it cannot reach the
// others, their values stay until their cache_ttl ends.
func (r *Resolver) Changed(ctx context.Context, collection string) {
	r.Invalidate()
	if f := r.announce.Load(); f != nil {
		(*f)(ctx, collection)
	}
}
