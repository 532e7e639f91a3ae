package app

import (
	"context"

	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
)

// followHierarchy keeps r's cache in step with the other proxies: a write
// to the hierarchy collection through any proxy is announced on Redis and
// every proxy drops its cached values when the announcement arrives. A
// proxy whose subscription was lost drops them when it is back (it may have
// missed announcements). Without Redis, or while it is down, the other
// proxies' values last until the hierarchy's cache_ttl (docs/schemas.md).
func (f *fleetRuntime) followHierarchy(r *hierarchy.Resolver) {
	f.bus.On(fleet.KindHierarchy, func(fleet.Message) { r.Invalidate() })
	f.bus.OnResubscribe(r.Invalidate)
	if f.redis == nil {
		return
	}
	const notAnnounced = "hierarchy changed but not announced: redis unreachable; other proxies keep their values until the hierarchy cache_ttl"
	r.SetAnnouncer(func(ctx context.Context, coll string) {
		if !f.redis.Up() {
			// Not waiting for a dead server's timeout on every write.
			f.log.Warn(notAnnounced, "collection", coll)
			return
		}
		if err := f.bus.Publish(ctx, fleet.KindHierarchy, coll); err != nil {
			f.log.Warn(notAnnounced, "collection", coll, "err", err)
		}
	})
}
