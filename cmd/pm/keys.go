package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/auth"
)

func init() {
	commands["keys"] = command{
		summary: "make API keys (create, hash) and manage a running server's keys (list, revoke)",
		run:     runKeys,
	}
}

const keysUsage = `usage: pm keys <create|hash|list|revoke> [arguments]

  create   make a new key offline: print it once, with the auth.api_keys entry
           for the config file (or, with --remote, create it on the server at --url)
  hash     print the key_id and key_sha256 of an existing key (read from stdin)
  list     list the keys created on a running server (GET /admin/api-keys)
  revoke   revoke a key on a running server (DELETE /admin/api-keys/{id})
`

func runKeys(args []string, stdout, stderr io.Writer) int {
	return runSubcommand("pm keys", keysUsage, map[string]runFunc{
		"create": runKeysCreate,
		"hash": func(args []string, stdout, stderr io.Writer) int {
			return runKeysHash(args, os.Stdin, stdout, stderr)
		},
		"list":   runKeysList,
		"revoke": runKeysRevoke,
	}, args, stdout, stderr)
}

// serverFlags are the flags of the subcommands that talk to a server.
type serverFlags struct {
	url, apiKey *string
}

// addServerFlags adds --url and --api-key; need names the permission the
// key's caller must hold, for the help.
func addServerFlags(fs interface {
	String(name, value, usage string) *string
}, need string) serverFlags {
	return serverFlags{
		url:    fs.String("url", "http://127.0.0.1:8080", "base URL of the proxy"),
		apiKey: fs.String("api-key", "", "API key of a caller holding "+need+" (default: the PM_API_KEY environment variable)"),
	}
}

// target is the server's base URL (without a trailing slash) and the API key
// to send, from the flags or PM_API_KEY; it reports on stderr and returns
// false when either is missing or unusable.
func (f serverFlags) target(stderr io.Writer, cmd string) (base, key string, ok bool) {
	key = *f.apiKey
	if key == "" {
		key = os.Getenv("PM_API_KEY")
	}
	if key == "" {
		fmt.Fprintf(stderr, "%s: no API key: give --api-key or set PM_API_KEY\n", cmd)
		return "", "", false
	}
	base = strings.TrimSuffix(*f.url, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "%s: invalid --url %q\n", cmd, *f.url)
		return "", "", false
	}
	return base, key, true
}

// call sends one request to the admin API and decodes {data} or reports
// {error} on stderr. It returns false when the call failed.
func (f serverFlags) call(stderr io.Writer, cmd, method, path string, body any, out any) bool {
	base, key, ok := f.target(stderr, cmd)
	if !ok {
		return false
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd) //nolint:gosec // G704: the operator names the server (--url)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return false
	}
	req.Header.Set("X-API-Key", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req) //nolint:gosec // G704: as above
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return false
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		fmt.Fprintf(stderr, "%s: reading the answer: %v\n", cmd, err)
		return false
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		fmt.Fprintf(stderr, "%s: the server answered %d with a body that is not JSON: %.200s\n", cmd, res.StatusCode, raw)
		return false
	}
	if res.StatusCode >= 300 || env.Error != nil {
		if env.Error != nil {
			fmt.Fprintf(stderr, "%s: %d %s: %s\n", cmd, res.StatusCode, env.Error.Code, env.Error.Message)
		} else {
			fmt.Fprintf(stderr, "%s: the server answered %d\n", cmd, res.StatusCode)
		}
		return false
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			fmt.Fprintf(stderr, "%s: unexpected answer: %v\n", cmd, err)
			return false
		}
	}
	return true
}

// adminKey is one key as the admin API shows it.
type adminKey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Key       string `json:"key"`
	Principal struct {
		ID       string   `json:"id"`
		TenantID string   `json:"tenant_id"`
		Roles    []string `json:"roles"`
	} `json:"principal"`
	CreatedAt string  `json:"created_at"`
	CreatedBy string  `json:"created_by"`
	ExpiresAt *string `json:"expires_at"`
	Revoked   bool    `json:"revoked"`
}

// runKeysCreate implements `pm keys create`.
//
// Offline (the default) nothing is sent anywhere: the key and the config
// entry (which holds only the hash) are printed on stdout, the key alone on
// the first line so that a script can take it with `head -1`.
func runKeysCreate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm keys create", "--name NAME --id PRINCIPAL_ID [--tenant T] [--roles a,b] [--expires-in 720h] [--remote --url URL --api-key KEY]", stderr)
	name := fs.String("name", "", "name of the key, e.g. the service that will use it (required)")
	pid := fs.String("id", "", "principal id the key stands for: user.id in policies (required)")
	tenant := fs.String("tenant", "", "principal tenant: user.tenant_id (a server fills in the caller's tenant when empty)")
	roles := fs.String("roles", "", "comma-separated roles: user.roles")
	expires := fs.Duration("expires-in", 0, "lifetime, e.g. 720h (default: never expires)")
	remote := fs.Bool("remote", false, "create the key on the running server at --url instead of printing a config entry")
	sf := addServerFlags(fs, "api_keys.manage")
	if code, stop := parseNoArgs(fs, args); stop {
		return code
	}
	if strings.TrimSpace(*name) == "" || strings.TrimSpace(*pid) == "" {
		fmt.Fprintln(stderr, "pm keys create: --name and --id are required")
		fs.Usage()
		return exitUsage
	}
	if *expires < 0 {
		fmt.Fprintln(stderr, "pm keys create: --expires-in must be positive")
		return exitUsage
	}
	if !*remote {
		// A server named without --remote would be ignored: the operator
		// would think the key exists on it when only an entry was printed.
		set := ""
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "url" || f.Name == "api-key" {
				set = f.Name
			}
		})
		if set != "" {
			fmt.Fprintf(stderr, "pm keys create: --%s names a server, but without --remote the key is only printed as a config entry; add --remote to create it there\n", set)
			return exitUsage
		}
	}
	roleList := []string{}
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roleList = append(roleList, r)
		}
	}

	if *remote {
		p := map[string]any{"id": *pid, "roles": roleList}
		if *tenant != "" {
			p["tenant_id"] = *tenant
		}
		body := map[string]any{"name": *name, "principal": p}
		if *expires > 0 {
			body["expires_in"] = expires.String()
		}
		var k adminKey
		if !sf.call(stderr, "pm keys create", http.MethodPost, "/admin/api-keys", body, &k) {
			return exitFail
		}
		fmt.Fprintln(stdout, k.Key)
		fmt.Fprintf(stdout, "# key %s created on the server for %s; it is shown only this once.\n", k.ID, k.Principal.ID)
		return exitOK
	}

	id, key, hash := auth.GenerateKey()
	fmt.Fprintln(stdout, key)
	fmt.Fprintln(stdout, "# The line above is the key; it is shown only this once. Add this entry under auth.api_keys:")
	fmt.Fprintf(stdout, "- name: %s\n", yamlString(*name))
	fmt.Fprintf(stdout, "  key_id: %s\n", id)
	fmt.Fprintf(stdout, "  key_sha256: %s\n", hash)
	fmt.Fprintf(stdout, "  principal: {id: %s", yamlString(*pid))
	if *tenant != "" {
		fmt.Fprintf(stdout, ", tenant_id: %s", yamlString(*tenant))
	}
	quoted := make([]string, len(roleList))
	for i, r := range roleList {
		quoted[i] = yamlString(r)
	}
	fmt.Fprintf(stdout, ", roles: [%s]}\n", strings.Join(quoted, ", "))
	if *expires > 0 {
		fmt.Fprintf(stdout, "  expires_at: %s\n", time.Now().UTC().Add(*expires).Truncate(time.Second).Format(time.RFC3339))
	}
	return exitOK
}

// yamlString quotes s for YAML: JSON strings are valid YAML flow scalars,
// which keeps names with ':' or '#' from changing the entry's meaning.
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// runKeysHash implements `pm keys hash`: the config entry's key_id and
// key_sha256 for a key read from stdin (an argument would end up in the
// shell history).
func runKeysHash(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm keys hash", "< KEYFILE", stderr)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "pm keys hash: give the key on stdin, not as an argument (it would stay in the shell history)")
		return exitUsage
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "pm keys hash: %v\n", err)
		return exitFail
	}
	id, secret, err := auth.ParseKey(strings.TrimSpace(line))
	if err != nil {
		fmt.Fprintln(stderr, "pm keys hash: stdin is not an API key of the form pm_<16 hex digits>_<secret>; make one with pm keys create")
		return exitFail
	}
	fmt.Fprintf(stdout, "key_id: %s\nkey_sha256: %s\n", id, auth.HashSecret(secret))
	return exitOK
}

// runKeysList implements `pm keys list`.
func runKeysList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm keys list", "[--url URL] [--api-key KEY] [--tenant T] [--json]", stderr)
	sf := addServerFlags(fs, "api_keys.manage")
	tenant := fs.String("tenant", "", "another tenant than the caller's (needs api_keys.manage_any_tenant)")
	asJSON := fs.Bool("json", false, "print the server's answer as JSON")
	if code, stop := parseNoArgs(fs, args); stop {
		return code
	}
	var keys []adminKey
	if !sf.call(stderr, "pm keys list", http.MethodGet, "/admin/api-keys"+tenantQuery(*tenant), nil, &keys) {
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(keys)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPRINCIPAL\tTENANT\tROLES\tCREATED\tEXPIRES\tSTATE")
	for _, k := range keys {
		exp := "never"
		if k.ExpiresAt != nil {
			exp = *k.ExpiresAt
		}
		state := "active"
		if k.Revoked {
			state = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Principal.ID, k.Principal.TenantID,
			strings.Join(k.Principal.Roles, ","), k.CreatedAt, exp, state)
	}
	_ = tw.Flush()
	return exitOK
}

// tenantQuery is the ?tenant_id= naming another tenant, or "".
func tenantQuery(tenant string) string {
	if tenant == "" {
		return ""
	}
	return "?tenant_id=" + url.QueryEscape(tenant)
}

// runKeysRevoke implements `pm keys revoke ID`.
func runKeysRevoke(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm keys revoke", "[--url URL] [--api-key KEY] [--tenant T] KEY_ID", stderr)
	sf := addServerFlags(fs, "api_keys.manage")
	tenant := fs.String("tenant", "", "the key's tenant when it is not the caller's (needs api_keys.manage_any_tenant)")
	id, code, stop := parseOneArg(fs, args, "pm keys revoke: give exactly one key id")
	if stop {
		return code
	}
	// A full key pasted by mistake is reduced to its id, so the secret never
	// travels in a URL (and into access logs).
	if kid, _, err := auth.ParseKey(id); err == nil {
		id = kid
	}
	if !auth.ValidKeyID(id) {
		// Not echoed: it may be a mistyped secret.
		fmt.Fprintln(stderr, "pm keys revoke: the argument is not a key id (16 hex digits, as pm keys list shows)")
		return exitUsage
	}
	if !sf.call(stderr, "pm keys revoke", http.MethodDelete, "/admin/api-keys/"+url.PathEscape(id)+tenantQuery(*tenant), nil, nil) {
		return exitFail
	}
	fmt.Fprintf(stdout, "revoked %s\n", id)
	return exitOK
}
