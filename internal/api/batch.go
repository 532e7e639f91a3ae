package api

import (
	"net/http"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// itemErrors renders the per-item failures of a batch with the same codes
// and client-safe messages as single requests.
func itemErrors(fs []service.ItemError, withID bool) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		item := map[string]any{"index": f.Index, "error": itemErrorInfo(f.Err)}
		if withID {
			j, err := idJSON(f.ID)
			if err != nil {
				return nil, err
			}
			item["id"] = j
		}
		out = append(out, item)
	}
	return out, nil
}

// itemErrorInfo is the "error" member of one failed item of a batch or line
// of an import: the code and message a single request failing alike would
// answer, with the details (e.g. every schema failure of the item) but never
// an internal error's text.
func itemErrorInfo(err error) map[string]any {
	ae, _, code := classify(err)
	if ae.Kind == apperr.KindInternal {
		return map[string]any{"code": code, "message": "internal error"}
	}
	info := map[string]any{"code": code, "message": ae.Message}
	if ae.Details != nil {
		info["details"] = ae.Details
	}
	return info
}

// idJSON renders an _id as relaxed Extended JSON.
func idJSON(id any) (rawJSON, error) {
	raw, err := bson.Marshal(bson.D{{Key: "id", Value: id}})
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, err, "cannot encode id")
	}
	j, err := extJSON(raw)
	if err != nil {
		return nil, err
	}
	// {"id":<value>} → <value>
	return rawJSON(j[len(`{"id":`) : len(j)-1]), nil
}

// createBatch: POST /collections/:c/batch {documents: [...]}.
func (s *Server) createBatch(c *echo.Context) error {
	arr, err := s.bodyArray(c, "documents", "documents")
	if err != nil {
		return err
	}
	// Items that are not objects are reported by index with the others
	// (the service checks every item on its own).
	res, err := s.svc.CreateMany(c.Request().Context(), principalOf(c), c.Param("c"), []any(arr))
	if err != nil {
		return err
	}
	created := make([]rawJSON, len(res.Created))
	for i, id := range res.Created {
		if created[i], err = idJSON(id); err != nil {
			return err
		}
	}
	failed, err := itemErrors(res.Failed, false)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"created": created, "failed": failed})
}

// selection reads {ids} or {filter} from a batch body.
func selection(m map[string]any) (service.Selection, error) {
	var sel service.Selection
	ids, given, err := stringsMember(m, "ids")
	if err != nil {
		return sel, err
	}
	if given {
		sel.IDs = ids
		if sel.IDs == nil {
			sel.IDs = []string{}
		}
	}
	if v, ok := m["filter"]; ok && v != nil {
		sel.HasFilter = true
		if sel.Filter, err = docMember(m, "filter"); err != nil {
			return sel, err
		}
	}
	return sel, nil
}

// updateBatch: PATCH /collections/:c/batch {ids | filter, update}.
func (s *Server) updateBatch(c *echo.Context) error {
	m, err := s.bodyObject(c, "ids", "filter", "update")
	if err != nil {
		return err
	}
	sel, err := selection(m)
	if err != nil {
		return err
	}
	upd, err := requiredDoc(m, "update")
	if err != nil {
		return err
	}
	res, err := s.svc.UpdateMany(c.Request().Context(), principalOf(c), c.Param("c"), sel, upd)
	if err != nil {
		return err
	}
	failed, err := itemErrors(res.Failed, true)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"matched": res.Matched, "modified": res.Modified, "failed": failed})
}

// deleteBatch: POST /collections/:c/batch/delete and DELETE
// /collections/:c/batch, {ids | filter}.
func (s *Server) deleteBatch(c *echo.Context) error {
	m, err := s.bodyObject(c, "ids", "filter")
	if err != nil {
		return err
	}
	sel, err := selection(m)
	if err != nil {
		return err
	}
	n, err := s.svc.DeleteMany(c.Request().Context(), principalOf(c), c.Param("c"), sel)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"deleted": n})
}
