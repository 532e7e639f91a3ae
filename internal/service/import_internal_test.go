package service

import (
	"reflect"
	"testing"
)

// TestImportCheckerCopiesService guards Service.checker: the import-local
// Service must carry every dependency Create may use. A field added to
// Service fails this test until checker copies it (or it is listed here as
// deliberately left out).
func TestImportCheckerCopiesService(t *testing.T) {
	known := map[string]bool{
		"store":    true, // replaced by checkOnlyStore
		"policies": true, // set to the import's policy set
		"cursors":  true,
		"limits":   true,
		"now":      true,
		"log":      true,
		"versions": true,
		"auditLog": true,
	}
	ty := reflect.TypeOf(Service{})
	for i := 0; i < ty.NumField(); i++ {
		if f := ty.Field(i).Name; !known[f] {
			t.Errorf("Service has a new field %q: make Service.checker (import.go) carry it over", f)
		}
	}
}
