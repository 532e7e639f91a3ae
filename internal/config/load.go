package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path over Default(), applies PM_* environment
// variables, validates the result and fills CursorSecret when empty. path ""
// means no file: defaults and environment only.
//
// Relative paths in the file (policies, mongodb.embedded_dir,
// auth.jwt.public_key_file) are relative to the file's folder, so that a
// config works whatever directory the server is started from; relative paths
// from the environment are relative to the working directory, as in a shell.
//
// The error is a *Problems listing every problem found: unknown keys and
// values of the wrong type (with file:line), bad variables, and what
// Validate reports. Only a YAML syntax error stops the reading early.
func Load(path string) (*Config, error) {
	cfg := Default()
	var probs Problems
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := cfg.decode(path, data, &probs); err != nil {
			return nil, err
		}
		cfg.resolvePaths(filepath.Dir(path))
	}
	cfg.applyEnv(os.LookupEnv, &probs)
	cfg.deriveDefaults()
	probs = append(probs, cfg.problems()...)
	if len(probs) > 0 {
		return nil, &probs
	}
	if cfg.CursorSecret == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
		cfg.CursorSecret = hex.EncodeToString(b)
		cfg.CursorSecretGenerated = true
	}
	return cfg, nil
}

// decode reads data over cfg. Unknown keys and type errors are added to
// probs; a syntax error is returned.
func (c *Config) decode(file string, data []byte, probs *Problems) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file is all defaults
			return nil
		}
		return fmt.Errorf("config: %s: %w", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("config: %s:%d: more than one YAML document", file, extra.Line)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	// The yaml package's KnownFields stops at the first unknown key and names
	// Go types; walking the nodes lists them all, by their YAML path.
	c.checkKeys(file, root, reflect.TypeOf(*c), "", probs)
	if err := root.Decode(c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return fmt.Errorf("config: %s: %w", file, err)
		}
		for _, e := range te.Errors {
			probs.add("%s: %s", file, e)
		}
	}
	return nil
}

var timeType = reflect.TypeOf(time.Time{})

// checkKeys reports every mapping key in n that t has no yaml field for, and
// records where each known key was set.
func (c *Config) checkKeys(file string, n *yaml.Node, t reflect.Type, path string, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case t.Kind() == reflect.Struct && t != timeType:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			f, ok := fields[key.Value]
			if !ok {
				probs.add("%s:%d:%d: unknown key %q in %s (known: %s)", file, key.Line, key.Column,
					key.Value, where(path), strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
				continue
			}
			p := join(path, key.Value)
			c.setOrigin(p, fmt.Sprintf("%s:%d", file, val.Line))
			c.checkKeys(file, val, f.Type, p, probs)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.setOrigin(p, fmt.Sprintf("%s:%d", file, item.Line))
			c.checkKeys(file, item, t.Elem(), p, probs)
		}
	}
}

// yamlFields maps the yaml names of t's fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for name, f := range fileKeys(t) {
		out[name] = f
	}
	return out
}

// fileKeys yields the fields of t that a file can set, by their yaml names,
// in declaration order. The loader, the environment overrides and the
// documentation test all walk the same keys through it.
func fileKeys(t reflect.Type) iter.Seq2[string, reflect.StructField] {
	return func(yield func(string, reflect.StructField) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			if !yield(name, f) {
				return
			}
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// resolvePaths makes relative paths set in the file relative to its folder.
// Defaults stay relative to the working directory, like the environment.
func (c *Config) resolvePaths(dir string) {
	paths := map[string]*string{
		"policies":                 &c.Policies,
		"mongodb.embedded_dir":     &c.MongoDB.EmbeddedDir,
		"auth.jwt.public_key_file": &c.Auth.JWT.PublicKeyFile,
		"audit.spill_path":         &c.Audit.SpillPath,
		"server.tls.cert_file":     &c.Server.TLS.CertFile,
		"server.tls.key_file":      &c.Server.TLS.KeyFile,
	}
	for key, p := range paths {
		if c.Origin(key) != "" && *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
