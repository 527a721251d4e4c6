package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/pflag"

	"github.com/rotorhq/rotor/benchmarks"
	"github.com/rotorhq/rotor/cmd/rotor/config"
	"github.com/rotorhq/rotor/engine"
)

// The command line follows Centrifugo v6's (spec/config.md §1.2): the root command
// runs the server, with flags bound to config keys; the sub-commands have
// Centrifugo's names, flags, output and exit status 1 on failure. Unlike
// Centrifugo (which exits 0), an unknown command, an unknown flag or a stray
// argument prints the error and the usage to stderr and exits 2.

// subcommand is one `rotor <name>`.
type subcommand struct {
	name, short string
	run         func(args []string, stdout, stderr io.Writer) int
}

func subcommands() []subcommand {
	return []subcommand{
		{"bench", "Load tool: run benchmarks against a server (rotor bench --help)", func(a []string, o, e io.Writer) int { return benchmarks.Main(a, o, e) }},
		{"checkconfig", "Check configuration file", cmdCheckConfig},
		{"checksubtoken", "Check subscription JWT", cmdCheckSubToken},
		{"checktoken", "Check connection JWT", cmdCheckToken},
		{"defaultconfig", "Generate full configuration file with defaults", cmdDefaultConfig},
		{"defaultenv", "Generate full environment var list with defaults", cmdDefaultEnv},
		{"genconfig", "Generate minimal configuration file to start with", cmdGenConfig},
		{"gensubtoken", "Generate sample subscription JWT for user", cmdGenSubToken},
		{"gentoken", "Generate sample connection JWT for user", cmdGenToken},
		{"help", "Help about any command", nil},
		{"serve", "Run static file server (for development only)", cmdServeStatic},
		{"version", "Rotor version information", cmdVersion},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name := args[0]
		if name == "help" {
			return cmdHelp(args[1:], stdout, stderr)
		}
		for _, c := range subcommands() {
			if c.name == name {
				return c.run(args[1:], stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "Error: unknown command %q for \"rotor\"\n", name)
		rootUsage(stderr)
		return 2
	}
	return runServer(args, stdout, stderr)
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		rootUsage(stdout)
		return 0
	}
	for _, c := range subcommands() {
		if c.name == args[0] && c.run != nil {
			return c.run([]string{"--help"}, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "Error: unknown help topic %q\n", args[0])
	rootUsage(stderr)
	return 2
}

// serverFlag is a root flag bound to a config key (set as ROTOR_<KEY> so that it
// wins over the environment and the file).
type serverFlag struct {
	key, short, def, usage string
	isBool                 bool
}

// serverFlags are Centrifugo v6's root flags, with its defaults and help texts.
var serverFlags = []serverFlag{
	{key: "admin.enabled", usage: "enable admin web interface", isBool: true},
	{key: "admin.external", usage: "expose admin web interface on external port", isBool: true},
	{key: "admin.insecure", usage: "use insecure admin mode – no auth required for admin socket", isBool: true},
	{key: "broker.enabled", usage: "enable broker", isBool: true},
	{key: "broker.type", def: "memory", usage: "broker to use: memory, redis or nats"},
	{key: "client.insecure", usage: "start in insecure client mode", isBool: true},
	{key: "debug.enabled", usage: "enable debug endpoints", isBool: true},
	{key: "engine.type", def: "memory", usage: "engine to use: memory or redis"},
	{key: "grpc_api.enabled", usage: "enable GRPC API server", isBool: true},
	{key: "grpc_api.port", def: "10000", usage: "port to bind GRPC API server to"},
	{key: "health.enabled", usage: "enable health check endpoint", isBool: true},
	{key: "http_api.external", usage: "expose API handler on external port", isBool: true},
	{key: "http_api.insecure", usage: "use insecure API mode", isBool: true},
	{key: "http_server.address", short: "a", usage: "interface address to listen on"},
	{key: "http_server.internal_address", usage: "custom interface address to listen on for internal endpoints"},
	{key: "http_server.internal_port", usage: "custom port for internal endpoints"},
	{key: "http_server.port", short: "p", def: "8000", usage: "port to bind HTTP server to"},
	{key: "http_stream.enabled", usage: "enable bidirectional HTTP-streaming endpoint (with emulation layer)", isBool: true},
	{key: "init.enabled", usage: "enable connection init endpoint", isBool: true},
	{key: "log.file", usage: "optional log file - if not specified logs go to STDERR"},
	{key: "log.level", def: "info", usage: "set the log level: trace, debug, info, warn, error, fatal or none"},
	{key: "map_broker.type", def: "memory", usage: "map broker to use: memory, redis or postgres"},
	{key: "pid_file", usage: "optional path to create PID file"},
	{key: "presence_manager.enabled", usage: "enable presence manager", isBool: true},
	{key: "presence_manager.type", def: "memory", usage: "presence manager to use: memory or redis"},
	{key: "prometheus.enabled", usage: "enable Prometheus metrics endpoint", isBool: true},
	{key: "sse.enabled", usage: "enable bidirectional SSE (EventSource) endpoint (with emulation layer)", isBool: true},
	{key: "swagger.enabled", usage: "enable Swagger UI endpoint describing server HTTP API", isBool: true},
	{key: "uni_grpc.enabled", usage: "enable unidirectional GRPC endpoint", isBool: true},
	{key: "uni_grpc.port", def: "11000", usage: "port to bind unidirectional GRPC server to"},
	{key: "uni_http_stream.enabled", usage: "enable unidirectional HTTP-streaming endpoint", isBool: true},
	{key: "uni_sse.enabled", usage: "enable unidirectional SSE (EventSource) endpoint", isBool: true},
	{key: "uni_websocket.enabled", usage: "enable unidirectional websocket endpoint", isBool: true},
}

// flagSet is a sub-command's flags with cobra-like help and errors.
type flagSet struct {
	*pflag.FlagSet
	use, long string
	help      bool
}

func newFlagSet(use, long string) *flagSet {
	f := &flagSet{FlagSet: pflag.NewFlagSet(use, pflag.ContinueOnError), use: use, long: long}
	f.SetOutput(io.Discard)
	f.SortFlags = true
	f.BoolVarP(&f.help, "help", "h", false, "help for "+strings.Fields(use)[0])
	return f
}

func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  rotor %s [flags]\n\nFlags:\n%s", f.long, f.use, f.FlagUsages())
}

// parse parses args; done is true when the command must return code (help printed:
// 0; bad flag or argument: 2). maxArgs bounds the positional arguments.
func (f *flagSet) parse(args []string, maxArgs int, stdout, stderr io.Writer) (code int, done bool) {
	if err := f.Parse(args); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		f.usage(stderr)
		return 2, true
	}
	if f.help {
		f.usage(stdout)
		return 0, true
	}
	if f.NArg() > maxArgs {
		fmt.Fprintf(stderr, "Error: unexpected argument %q\n", f.Arg(maxArgs))
		f.usage(stderr)
		return 2, true
	}
	return 0, false
}

func rootFlags() (*flagSet, *string, map[string]*string, map[string]*bool) {
	f := newFlagSet("[flags]", "Rotor – a real-time messaging server compatible with Centrifugo v6")
	f.Lookup("help").Usage = "help for rotor"
	configPath := f.StringP("config", "c", "config.json", "path to config file")
	strs := map[string]*string{}
	bools := map[string]*bool{}
	for _, sf := range serverFlags {
		if sf.isBool {
			bools[sf.key] = f.BoolP(sf.key, sf.short, false, sf.usage)
		} else {
			strs[sf.key] = f.StringP(sf.key, sf.short, sf.def, sf.usage)
		}
	}
	return f, configPath, strs, bools
}

func rootUsage(w io.Writer) {
	f, _, _, _ := rootFlags()
	fmt.Fprintf(w, "%s\n\nUsage:\n  rotor [flags]\n  rotor [command]\n\nAvailable Commands:\n", f.long)
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nFlags:\n%s\nUse \"rotor [command] --help\" for more information about a command.\n", f.FlagUsages())
}

// runServer parses the root flags and runs the server.
func runServer(args []string, stdout, stderr io.Writer) int {
	f, configPath, strs, bools := rootFlags()
	if err := f.Parse(args); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		rootUsage(stderr)
		return 2
	}
	if f.help {
		rootUsage(stdout)
		return 0
	}
	if f.NArg() > 0 {
		fmt.Fprintf(stderr, "Error: unknown command %q for \"rotor\"\n", f.Arg(0))
		rootUsage(stderr)
		return 2
	}
	env := os.Environ()
	var flagEnv []string
	var renames []string // ROTOR_X → --x, for messages
	for _, sf := range serverFlags {
		if !f.Changed(sf.key) {
			continue
		}
		v := ""
		if sf.isBool {
			v = strconv.FormatBool(*bools[sf.key])
		} else {
			v = *strs[sf.key]
		}
		name := "ROTOR_" + strings.ToUpper(strings.ReplaceAll(sf.key, ".", "_"))
		flagEnv = append(flagEnv, name+"="+v)
		renames = append(renames, name, "flag --"+sf.key)
	}
	path := *configPath
	explicit := f.Changed("config")
	flagNames := strings.NewReplacer(renames...)
	if err := serve(serveOptions{
		configPath: path, explicitConfig: explicit, env: append(env, flagEnv...),
		flagNames: flagNames, stdout: stdout, stderr: stderr,
	}); err != nil {
		fmt.Fprintf(stderr, "rotor: %s\n", flagNames.Replace(err.Error()))
		return 1
	}
	return 0
}

// loadForCommand loads the config of a sub-command as Centrifugo does: a missing
// file means defaults. Errors are printed as Centrifugo prints them.
func loadForCommand(path string, stdout io.Writer) (*config.ServerConfig, bool, int) {
	sc, err := config.Load(path, os.Environ())
	if errors.Is(err, fs.ErrNotExist) {
		sc, err = config.Load("", os.Environ())
		if err == nil {
			return sc, true, 0
		}
	}
	if err != nil {
		fmt.Fprintf(stdout, "error getting config: %v\n", err)
		return nil, false, 1
	}
	return sc, false, 0
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("version", "Print the version information of Rotor")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	v := version
	if v != "" && v[0] >= '0' && v[0] <= '9' {
		v = "v" + v // a release number, as Centrifugo prints it; a git hash stays as is
	}
	fmt.Fprintf(stdout, "Rotor %s (Go version: %s)\n", v, runtime.Version())
	return 0
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("checkconfig", "Check Rotor (Centrifugo v6) configuration file")
	path := f.StringP("config", "c", "config.json", "path to config file to check")
	strict := f.BoolP("strict", "s", false, "strict check - fail on unknown fields")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	sc, err := config.Load(*path, os.Environ())
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(stdout, "config file not found")
		return 1
	}
	if err != nil {
		fmt.Fprintf(stdout, "error validating config: %v\n", err)
		return 1
	}
	if err := sc.Report.Err(); err != nil {
		fmt.Fprintf(stdout, "error validating config: %v\n", err)
		return 1
	}
	if *strict && len(sc.Report.Unknown) > 0 {
		fmt.Fprintf(stdout, "unknown keys in config: %v\n", strings.Join(sc.Report.Unknown, ", "))
		return 1
	}
	for _, k := range sc.Report.NotHonoured {
		fmt.Fprintf(stderr, "warning: %s is not supported by Rotor and is ignored\n", k)
	}
	return 0
}

// genSecret is n random bytes, base64url without padding, as Centrifugo's genconfig.
func genSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func cmdGenConfig(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("genconfig", "Generate minimal configuration file to start with")
	path := f.StringP("config", "c", "config.json", "path to output config file")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	if _, err := os.Stat(*path); err == nil {
		fmt.Fprintf(stdout, "error: output config file already exists: %s\n", *path)
		return 1
	}
	token, pass, secret, key := genSecret(64), genSecret(16), genSecret(64), genSecret(64)
	var body string
	switch strings.TrimPrefix(filepath.Ext(*path), ".") {
	case "json":
		body = fmt.Sprintf(`{
  "client": {
    "token": {
      "hmac_secret_key": %q
    },
    "allowed_origins": []
  },
  "admin": {
    "enabled": false,
    "password": %q,
    "secret": %q
  },
  "http_api": {
    "key": %q
  }
}
`, token, pass, secret, key)
	case "yaml", "yml":
		body = fmt.Sprintf("client:\n  token:\n    hmac_secret_key: %q\n  allowed_origins: []\n\nadmin:\n  enabled: false\n  password: %q\n  secret: %q\n\nhttp_api:\n  key: %q\n", token, pass, secret, key)
	case "toml":
		body = fmt.Sprintf("[client]\n  allowed_origins = []\n\n  [client.token]\n    hmac_secret_key = %q\n\n[admin]\n  enabled = false\n  password = %q\n  secret = %q\n\n[http_api]\n  key = %q\n", token, pass, secret, key)
	default:
		fmt.Fprintln(stdout, "error: output config file must have one of supported extensions: json, toml, yaml, yml")
		return 1
	}
	if err := os.WriteFile(*path, []byte(body), 0o600); err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	if _, err := config.Load(*path, os.Environ()); err != nil {
		_ = os.Remove(*path)
		fmt.Fprintf(stdout, "error validating config: %v\n", err)
		return 1
	}
	return 0
}

func cmdDefaultConfig(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("defaultconfig", "Generate full Rotor (Centrifugo v6) configuration file with defaults")
	path := f.StringP("config", "c", "config.json", "path to default config file to generate")
	base := f.StringP("base", "b", "", "path to the base config file to use")
	dry := f.BoolP("dry-run", "d", false, "dry run mode (do not write file and just print generated config to stdout)")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	if !*dry {
		if _, err := os.Stat(*path); err == nil {
			fmt.Fprintln(stdout, "error: target file already exists")
			return 1
		}
	}
	b, err := config.DefaultConfig(*base, *path)
	if err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	if *dry {
		fmt.Fprintln(stdout, strings.TrimRight(string(b), "\n"))
		return 0
	}
	if err := os.WriteFile(*path, b, 0o600); err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	return 0
}

func cmdDefaultEnv(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("defaultenv", "Generate full Rotor (Centrifugo v6) environment var list with defaults")
	base := f.StringP("base", "b", "", "path to the base config file to use")
	nonZero := f.Bool("base-non-zero-only", false, "only output environment variables for values which were non zero in base config file")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	lines, err := config.DefaultEnv(*base, *nonZero)
	if err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return 0
}

// tokenFlags are the flags gentoken and gensubtoken share.
type tokenFlags struct {
	path, user string
	ttl        int64
	quiet      bool
}

func (t *tokenFlags) add(f *flagSet, userUsage string) {
	f.StringVarP(&t.path, "config", "c", "config.json", "path to config file")
	f.StringVarP(&t.user, "user", "u", "", userUsage)
	f.Int64VarP(&t.ttl, "ttl", "t", 3600*24*7, "token TTL in seconds, use -1 for token without expiration")
	f.BoolVarP(&t.quiet, "quiet", "q", false, "only output the token without anything else")
}

// signToken makes an HS256 JWT with sub, iat, exp (ttl > 0), extra claims and the
// user also under userIDClaim when set.
func signToken(secret, user string, ttl int64, userIDClaim string, extra map[string]any) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{"sub": user, "iat": now.Unix()}
	if ttl > 0 {
		claims["exp"] = now.Add(time.Duration(ttl) * time.Second).Unix()
	}
	for k, v := range extra {
		claims[k] = v
	}
	if userIDClaim != "" {
		claims[userIDClaim] = user
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

func tokenSummary(user string, ttl int64) (who, exp string) {
	who = fmt.Sprintf("user %q", user)
	if user == "" {
		who = "anonymous user"
	}
	exp = "without expiration"
	if ttl >= 0 {
		exp = fmt.Sprintf("with expiration TTL %s", time.Duration(ttl)*time.Second)
	}
	return who, exp
}

func cmdGenToken(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("gentoken", "Generate sample connection JWT for user")
	var t tokenFlags
	t.add(f, "user ID, by default anonymous")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	sc, _, code := loadForCommand(t.path, stdout)
	if sc == nil {
		return code
	}
	e := &sc.Engine
	secret := e.TokenHMACSecretKey
	if secret == "" {
		fmt.Fprintln(stdout, "error: gentoken only supports generating HMAC-signed tokens, but no HMAC secret key is set in the configuration (client.token.hmac_secret_key) – if you use RSA/ECDSA/JWKS token verification you need to generate the JWT with your own tooling")
		return 1
	}
	token, err := signToken(secret, t.user, t.ttl, e.Token.UserIDClaim, nil)
	if err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	if t.quiet {
		fmt.Fprint(stdout, token)
		return 0
	}
	who, exp := tokenSummary(t.user, t.ttl)
	fmt.Fprintf(stdout, "HMAC SHA-256 JWT for %s %s:\n%s\n", who, exp, token)
	return 0
}

func cmdGenSubToken(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("gensubtoken", "Generate sample subscription JWT for user")
	var t tokenFlags
	t.add(f, "user ID")
	channel := f.StringP("channel", "s", "", "channel")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	sc, _, code := loadForCommand(t.path, stdout)
	if sc == nil {
		return code
	}
	if *channel == "" {
		fmt.Fprintln(stdout, "channel is required")
		return 1
	}
	e := &sc.Engine
	secret, claim := e.TokenHMACSecretKey, e.Token.UserIDClaim
	if e.SubscriptionTokenEnabled {
		secret, claim = e.SubscriptionToken.HMACSecretKey, e.SubscriptionToken.UserIDClaim
	}
	if secret == "" {
		fmt.Fprintln(stdout, "error: gensubtoken only supports generating HMAC-signed tokens, but no HMAC secret key is set in the configuration (client.subscription_token.token.hmac_secret_key, or client.token.hmac_secret_key when subscription token is not separately configured) – if you use RSA/ECDSA/JWKS token verification you need to generate the JWT with your own tooling")
		return 1
	}
	token, err := signToken(secret, t.user, t.ttl, claim, map[string]any{"channel": *channel})
	if err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	if t.quiet {
		fmt.Fprint(stdout, token)
		return 0
	}
	who, exp := tokenSummary(t.user, t.ttl)
	fmt.Fprintf(stdout, "HMAC SHA-256 JWT for %s and channel %q %s:\n%s\n", who, *channel, exp, token)
	return 0
}

// tokenError words a verification failure as Centrifugo's checktoken does.
func tokenError(token string, err error) string {
	parts := strings.Split(token, ".")
	if len(parts) == 3 {
		hdr, e1 := base64.RawURLEncoding.DecodeString(parts[0])
		claims, e2 := base64.RawURLEncoding.DecodeString(parts[1])
		var h struct {
			Alg string `json:"alg"`
		}
		if e1 == nil && e2 == nil && json.Unmarshal(hdr, &h) == nil {
			return fmt.Sprintf("token with algorithm %s and claims %s has error: %v", h.Alg, claims, err)
		}
	}
	return err.Error()
}

func cmdCheckToken(args []string, stdout, stderr io.Writer) int {
	return checkTokenCommand("checktoken", "Check connection JWT", args, stdout, stderr,
		func(ctx context.Context, cfg *engine.Config, tok string) (string, error) {
			user, claims, err := engine.CheckConnectionToken(ctx, cfg, tok)
			if err != nil {
				return "", err
			}
			who := "user " + user
			if user == "" {
				who = "anonymous user"
			}
			return fmt.Sprintf("valid token for %s\npayload: %s", who, claims), nil
		})
}

func cmdCheckSubToken(args []string, stdout, stderr io.Writer) int {
	return checkTokenCommand("checksubtoken", "Check subscription JWT", args, stdout, stderr,
		func(ctx context.Context, cfg *engine.Config, tok string) (string, error) {
			user, channel, claims, err := engine.CheckSubscriptionToken(ctx, cfg, tok)
			if err != nil {
				return "", err
			}
			who := fmt.Sprintf("user %q", user)
			if user == "" {
				who = "anonymous user"
			}
			return fmt.Sprintf("valid subscription token for %s and channel %q\npayload: %s", who, channel, claims), nil
		})
}

// checkTokenCommand is checktoken and checksubtoken: flags, the config, one token
// argument; check verifies the token and describes it.
func checkTokenCommand(name, desc string, args []string, stdout, stderr io.Writer,
	check func(ctx context.Context, cfg *engine.Config, tok string) (string, error)) int {
	f := newFlagSet(name+" [TOKEN]", desc)
	path := f.StringP("config", "c", "config.json", "path to config file")
	if code, done := f.parse(args, 1, stdout, stderr); done {
		return code
	}
	sc, _, code := loadForCommand(*path, stdout)
	if sc == nil {
		return code
	}
	if f.NArg() != 1 {
		fmt.Fprintf(stdout, "error: provide token to check [rotor %s <TOKEN>]\n", name)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := check(ctx, &sc.Engine, f.Arg(0))
	if err != nil {
		fmt.Fprintf(stdout, "error: %s\n", tokenError(f.Arg(0), err))
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}

// cmdServeStatic is Centrifugo's `serve`: a static file server for local development.
func cmdServeStatic(args []string, stdout, stderr io.Writer) int {
	f := newFlagSet("serve", "Run static file server (for development only)")
	addr := f.StringP("address", "a", "", "interface to serve on (default: all interfaces)")
	dir := f.StringP("dir", "d", "./", "path to directory")
	port := f.IntP("port", "p", 3000, "port to serve on")
	if code, done := f.parse(args, 0, stdout, stderr); done {
		return code
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*addr, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	fmt.Fprintf(stdout, "start serving %s on %s\n", *dir, ln.Addr())
	srv := &http.Server{Handler: http.FileServer(http.Dir(*dir)), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	return 0
}
