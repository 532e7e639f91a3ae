package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Message kinds.
const (
	// KindKey: an API key changed (revoked); Data is its id.
	KindKey = "key"
	// KindPolicy: a proxy reloaded its policies; Data is the new hash.
	KindPolicy = "policy"
	// KindHierarchy: a proxy wrote to the hierarchy collection; Data is
	// the collection. Every proxy drops its cached hierarchy values.
	KindHierarchy = "hierarchy"
)

// Message is what proxies tell each other.
type Message struct {
	Kind string `json:"kind"`
	Data string `json:"data"`
	// From is the sending proxy's node id; a proxy ignores its own messages.
	From string `json:"from"`
}

// Bus carries Messages between the proxies sharing a Redis, on one pub/sub
// channel. Delivery is at most once: a proxy disconnected from Redis misses
// what was sent meanwhile, so OnResubscribe lets it drop whatever those
// messages would have invalidated.
type Bus struct {
	r       *Redis
	channel string
	Node    string
	log     *slog.Logger

	mu       sync.Mutex
	handlers map[string][]func(Message)
	resub    []func()
	ready    chan struct{}
}

// NewBus makes a bus on r (nil: a bus that only reaches this process).
func NewBus(r *Redis, log *slog.Logger) *Bus {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if log == nil {
		log = slog.Default()
	}
	bus := &Bus{r: r, Node: hex.EncodeToString(b[:]), log: log, handlers: map[string][]func(Message){}, ready: make(chan struct{})}
	if r != nil {
		bus.channel = r.Prefix + "events"
	}
	return bus
}

// On registers h for messages of kind sent by other proxies.
func (b *Bus) On(kind string, h func(Message)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers[kind] = append(b.handlers[kind], h)
}

// OnResubscribe registers f, called each time the subscription is made
// again after a loss (not the first time).
func (b *Bus) OnResubscribe(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resub = append(b.resub, f)
}

// Publish sends a message to the other proxies. Without Redis it does
// nothing; when Redis fails the error is returned and the state goes down.
func (b *Bus) Publish(ctx context.Context, kind, data string) error {
	if b.r == nil {
		return nil
	}
	raw, _ := json.Marshal(Message{Kind: kind, Data: data, From: b.Node})
	if err := b.r.Client.Publish(ctx, b.channel, raw).Err(); err != nil {
		b.r.Failed(err)
		return err
	}
	return nil
}

// Subscribed is closed once the first subscription is active.
func (b *Bus) Subscribed() <-chan struct{} { return b.ready }

// Run receives messages until ctx ends.
func (b *Bus) Run(ctx context.Context) {
	if b.r == nil {
		return
	}
	ps := b.r.Client.Subscribe(ctx)
	defer func() { _ = ps.Close() }()
	first := true
	for ctx.Err() == nil {
		// Subscribing again after an error is what makes go-redis dial a
		// new connection; each confirmation arrives as a Subscription.
		if err := ps.Subscribe(ctx, b.channel); err != nil {
			b.pause(ctx)
			continue
		}
		for ctx.Err() == nil {
			m, err := ps.Receive(ctx)
			if err != nil {
				if ctx.Err() == nil {
					b.log.Debug("redis subscription lost", "err", err)
				}
				break
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				if first {
					first = false
					close(b.ready)
				} else {
					b.log.Info("redis subscription restored; dropping cached state that missed messages")
					b.each(func(f func()) { f() })
				}
			case *redis.Message:
				b.deliver(m.Payload)
			}
		}
		b.pause(ctx)
	}
}

func (b *Bus) pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}

func (b *Bus) each(f func(func())) {
	b.mu.Lock()
	fs := append([]func(){}, b.resub...)
	b.mu.Unlock()
	for _, g := range fs {
		f(g)
	}
}

func (b *Bus) deliver(payload string) {
	var m Message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.From == b.Node {
		return
	}
	b.mu.Lock()
	hs := append([]func(Message){}, b.handlers[m.Kind]...)
	b.mu.Unlock()
	for _, h := range hs {
		h(m)
	}
}
