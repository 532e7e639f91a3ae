package policy

import (
	"net/url"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

// Hook is one webhook of a collection: the events it receives and where.
type Hook struct {
	Collection string
	On         []string // create, update, delete
	URL        string
	SecretEnv  string
	Pos        Pos
}

// HookEvents are the events a hook may ask for.
var HookEvents = []string{"create", "update", "delete"}

// HooksFor returns the hooks of coll that receive event.
func (s *Set) HooksFor(coll, event string) []*Hook {
	var out []*Hook
	for _, h := range s.Hooks[coll] {
		if slices.Contains(h.On, event) {
			out = append(out, h)
		}
	}
	return out
}

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (l *loader) buildHooks() {
	l.set.Hooks = map[string][]*Hook{}
	for coll, n := range l.hookNodes {
		l.file = l.fileOf[n]
		if _, ok := l.set.Collections[coll]; !ok && l.set.Defaults.DenyUnlistedCollections {
			l.errf(n, "hooks for collection %q, which has no policy", coll)
		}
		if n.Kind != yaml.SequenceNode {
			l.errf(n, "hooks of %s must be a list", coll)
			continue
		}
		for _, it := range n.Content {
			if h := l.hook(coll, it); h != nil {
				l.set.Hooks[coll] = append(l.set.Hooks[coll], h)
			}
		}
	}
}

func (l *loader) hook(coll string, n *yaml.Node) *Hook {
	if !l.Mapping(n, "a hook") {
		return nil
	}
	h := &Hook{Collection: coll, Pos: l.pos(n)}
	l.Keys(n, "hook",
		yamlnode.On("on", func(_, v *yaml.Node) {
			h.On = l.strList(v, "on")
			for _, e := range h.On {
				if !slices.Contains(HookEvents, e) {
					l.errf(v, "unknown hook event %q (known: create, update, delete)", e)
				}
			}
		}),
		yamlnode.On("webhook", func(_, v *yaml.Node) { l.webhook(h, v) }),
	)
	if len(h.On) == 0 {
		l.errf(n, "hook needs on: [create, update, delete] (one or more)")
	}
	if !yamlnode.Has(n, "webhook") {
		l.errf(n, "hook needs a webhook: {url, secret_env}")
	}
	if h.URL == "" || h.SecretEnv == "" || len(h.On) == 0 {
		return nil
	}
	return h
}

// webhook reads where a hook delivers and the variable holding its secret.
func (l *loader) webhook(h *Hook, v *yaml.Node) {
	if !l.Mapping(v, "webhook") {
		return
	}
	l.Keys(v, "webhook",
		yamlnode.On("url", func(_, w *yaml.Node) {
			h.URL = l.Str(w, "webhook.url")
			if u, err := url.Parse(h.URL); h.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				l.errf(w, "webhook.url %q must be an http:// or https:// URL", h.URL)
			}
		}),
		yamlnode.On("secret_env", func(_, w *yaml.Node) {
			h.SecretEnv = l.Str(w, "webhook.secret_env")
			if h.SecretEnv != "" && !envNameRe.MatchString(h.SecretEnv) {
				l.errf(w, "webhook.secret_env %q is not an environment variable name", h.SecretEnv)
			}
		}),
	)
	if h.URL == "" || h.SecretEnv == "" {
		l.errf(v, "webhook needs url and secret_env")
	}
}
