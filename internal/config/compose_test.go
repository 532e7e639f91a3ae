package config_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/config"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   any               `yaml:"depends_on"`
	} `yaml:"services"`
	Configs map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

// TestComposeDeployment keeps docker/compose.yml a deployment that works
// (no Docker engine here to run it): every proxy loads the shipped config
// with its environment, the proxies share what docs/scaling.md says they
// must, and the balancer and the MongoDB URI name the services that exist.
func TestComposeDeployment(t *testing.T) {
	raw, err := os.ReadFile("../../docker/compose.yml")
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))

	var proxies []string
	for name, s := range c.Services {
		if _, ok := s.Environment["PM_MONGODB_URI"]; ok {
			proxies = append(proxies, name)
		}
	}
	slices.Sort(proxies)
	require.GreaterOrEqual(t, len(proxies), 2, "the deployment shows several proxies")

	first := c.Services[proxies[0]].Environment
	for _, name := range proxies {
		env := c.Services[name].Environment
		for _, shared := range []string{"PM_MONGODB_URI", "PM_MONGODB_DATABASE", "PM_CURSOR_SECRET", "PM_REDIS_ADDR"} {
			require.NotEmpty(t, env[shared], "%s: %s", name, shared)
			require.Equal(t, first[shared], env[shared], "%s must share %s with %s", name, shared, proxies[0])
		}

		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			// The image's policy folder; the repository's here.
			t.Setenv("PM_POLICIES", "../../policies")
			cfg, err := config.Load("../../docker/config.example.yml")
			require.NoError(t, err)
			require.False(t, cfg.CursorSecretGenerated)
			require.NotEmpty(t, cfg.RateLimits)

			host, _, _ := strings.Cut(cfg.Redis.Addr, ":")
			require.Contains(t, c.Services, host, "redis.addr names a service")
			_, port, _ := strings.Cut(cfg.Listen, ":")
			require.Contains(t, c.Configs["lb"].Content, fmt.Sprintf("server %s:%s", name, port), "the balancer sends to %s", name)

			require.Contains(t, cfg.MongoDB.URI, "replicaSet=")
			hosts := regexp.MustCompile(`mongodb://([^/]+)/`).FindStringSubmatch(cfg.MongoDB.URI)
			require.Len(t, hosts, 2)
			for _, h := range strings.Split(hosts[1], ",") {
				svc, _, _ := strings.Cut(h, ":")
				require.Contains(t, c.Services, svc, "the MongoDB URI names service %s", svc)
			}
		})
	}
	require.Contains(t, c.Services, "lb")
}
