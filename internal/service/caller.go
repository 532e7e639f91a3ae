package service

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// callerKey identifies the caller for cursor binding: everything of the
// principal a policy can decide on. A cursor carries the position of a page
// computed under one decision; accepting it under another role set or other
// claim values would let a caller page with a position it was never shown
// (and, with a policy whose `when` reads a claim, under a different filter).
//
// It covers the id, the tenant, the role set (sorted and deduplicated: the
// order and repetition of roles decide nothing) and the value of every
// `user.claims.*` path that a `when` expression of the set or a preset of
// coll reads. Other claims are left out on purpose: JWT claims such as exp,
// iat or jti change with every token refresh and decide nothing, so binding
// them would break paging across a refresh for no gain. The key is an
// unambiguous JSON encoding (map keys sorted by encoding/json), hashed into
// the cursor's MAC by package cursor.
func callerKey(set *policy.Set, coll string, p *principal.Principal) string {
	roles := slices.Clone(p.Roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)

	var paths []string
	if set != nil {
		if sc := set.Scope(); sc != nil {
			for _, path := range sc.Paths() {
				if strings.HasPrefix(path, "claims.") {
					paths = append(paths, path)
				}
			}
		}
		for _, pr := range set.Presets(coll) {
			if strings.HasPrefix(pr.CallerPath, "claims.") {
				paths = append(paths, pr.CallerPath)
			}
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)

	// [path, present, value] triples: an absent claim and a null one differ.
	claims := make([][3]any, 0, len(paths))
	for _, path := range paths {
		v, ok := p.Lookup(path)
		claims = append(claims, [3]any{path, ok, v})
	}
	key, err := json.Marshal(struct {
		ID     string   `json:"id"`
		Tenant string   `json:"tenant"`
		Roles  []string `json:"roles"`
		Claims [][3]any `json:"claims"`
	}{p.ID, p.TenantID, roles, claims})
	if err != nil {
		// Claims come from JSON (tokens) or BSON (keys) and always encode;
		// should one not, a key no other request shares makes the caller's
		// cursors fail to verify rather than match another role set's.
		return "\x00unencodable\x00" + rand.Text()
	}
	return string(key)
}
