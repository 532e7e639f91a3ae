package policy

import (
	"net/url"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
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
	if !l.isMap(n, "a hook") {
		return nil
	}
	h := &Hook{Collection: coll, Pos: l.pos(n)}
	var hasWebhook bool
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "on":
			h.On = l.strList(v, "on")
			for _, e := range h.On {
				if !slices.Contains(HookEvents, e) {
					l.errf(v, "unknown hook event %q (known: create, update, delete)", e)
				}
			}
		case "webhook":
			hasWebhook = true
			if !l.isMap(v, "webhook") {
				return
			}
			l.eachKey(v, func(k string, kn, w *yaml.Node) {
				switch k {
				case "url":
					h.URL = l.str(w, "webhook.url")
					if u, err := url.Parse(h.URL); h.URL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
						l.errf(w, "webhook.url %q must be an http:// or https:// URL", h.URL)
					}
				case "secret_env":
					h.SecretEnv = l.str(w, "webhook.secret_env")
					if h.SecretEnv != "" && !envNameRe.MatchString(h.SecretEnv) {
						l.errf(w, "webhook.secret_env %q is not an environment variable name", h.SecretEnv)
					}
				default:
					l.errf(kn, "unknown key %q in webhook (known: url, secret_env)", k)
				}
			})
			if h.URL == "" || h.SecretEnv == "" {
				l.errf(v, "webhook needs url and secret_env")
			}
		default:
			l.errf(kn, "unknown key %q in hook (known: on, webhook)", k)
		}
	})
	if len(h.On) == 0 {
		l.errf(n, "hook needs on: [create, update, delete] (one or more)")
	}
	if !hasWebhook {
		l.errf(n, "hook needs a webhook: {url, secret_env}")
	}
	if h.URL == "" || h.SecretEnv == "" || len(h.On) == 0 {
		return nil
	}
	return h
}
