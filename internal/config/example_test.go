package config

import (
	"testing"
	"time"
)

// The example shipped in docker/ must stay a valid configuration.
func TestShippedExampleLoads(t *testing.T) {
	c, err := Load("../../docker/config.example.yml")
	if err != nil {
		t.Fatalf("docker/config.example.yml does not load: %v", err)
	}
	if !c.MongoDB.Embedded() || c.Limits.QueryTimeout != 10*time.Second || len(c.Auth.APIKeys) != 1 {
		t.Fatalf("unexpected example values: %+v", c)
	}
}
