package pipeline

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/query"
)

// StageAfterIDless returns the first top-level client stage that follows a
// stage whose output documents have no _id ($count; $project or $unset
// removing _id), or "" when there is none. FerretDB v1 panics on such a
// stage (it looks every document up by _id), and the iterator the panic
// leaks later brings the whole process down, so on that engine the proxy
// refuses these pipelines before sending them (service.Params).
func StageAfterIDless(stages bson.A) string {
	p, err := normalize(stages)
	if err != nil {
		return ""
	}
	idless := false
	for _, s := range p {
		d, ok := s.(bson.D)
		if !ok || len(d) != 1 {
			return ""
		}
		if idless {
			return d[0].Key
		}
		idless = dropsID(d[0].Key, d[0].Value)
	}
	return ""
}

func dropsID(stage string, arg any) bool {
	switch stage {
	case "$count":
		return true
	case "$project":
		spec, ok := arg.(bson.D)
		if !ok {
			return false
		}
		for _, e := range spec {
			if e.Key == "_id" {
				return isFalse(e.Value)
			}
		}
	case "$unset":
		switch v := arg.(type) {
		case string:
			return v == "_id"
		case bson.A:
			for _, f := range v {
				if f == "_id" {
					return true
				}
			}
		}
	}
	return false
}

func isFalse(v any) bool {
	if b, ok := v.(bool); ok {
		return !b
	}
	n, ok := query.AsInteger(v)
	return ok && n == 0
}
