package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/config"
)

func TestAuditAndVersionsConfig(t *testing.T) {
	cfg := config.Default()
	require.Equal(t, config.AuditFailClosed, cfg.Audit.Mode)
	require.Equal(t, "pm_audit", cfg.Audit.Collection)
	require.False(t, cfg.Versions.Enabled())

	t.Setenv("PM_AUDIT_MODE", "buffer")
	t.Setenv("PM_AUDIT_RETENTION", "2160h")
	t.Setenv("PM_VERSIONS_COLLECTIONS", "orders,invoices")
	t.Setenv("PM_POLICIES", t.TempDir())
	_, err := config.Load("")
	require.Error(t, err)
	require.Contains(t, err.Error(), "audit.spill_path: is required when audit.mode is \"buffer\"")
	t.Setenv("PM_AUDIT_SPILL_PATH", "/tmp/pm-audit.spill")
	cfg, err = config.Load("")
	require.NoError(t, err)
	require.Equal(t, 2160*time.Hour, cfg.Audit.Retention)
	require.Equal(t, []string{"orders", "invoices"}, cfg.Versions.Collections)
	require.True(t, cfg.Versions.Enabled())

	cfg = config.Default()
	cfg.Policies = t.TempDir()
	cfg.Audit.Mode = "best_effort"
	cfg.Audit.Collection = "audit"
	cfg.Audit.QueueSize = -1
	cfg.Versions.All = true
	cfg.Versions.Collections = []string{"pm_keys"}
	cfg.Versions.Keep = -1
	err = cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{"audit.mode", "audit.collection", "audit.queue_size", "versions.keep",
		"versions.collections: is set together with versions.all", `versions.collections: "pm_keys"`} {
		require.True(t, strings.Contains(err.Error(), want), "missing %q in %v", want, err)
	}
}
