package config

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// Options says where Load looks for values.
type Options struct {
	// Getenv reads the environment; os.Getenv when nil. An empty value
	// counts as unset.
	Getenv func(string) string
	// File is the config file named by --config; when empty CONFIG_FILE is
	// used, else ./config.yaml when it exists.
	File string
	// Flags holds values given on the command line, by config key
	// ("server.port"). Only flags the user actually set belong here.
	Flags map[string]string
	// Defaults replaces built-in defaults for one command, by config key
	// (mtdb dev listens on 127.0.0.1 unless told otherwise). They rank
	// below the config file, and IsSet reports them as not set.
	Defaults map[string]string
}

// Load builds the effective configuration from flags, environment, config
// file and defaults, then validates it. Every returned error that concerns
// a setting is a *SettingError naming it.
func Load(opts Options) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// Environment variables are read through getenv (not viper's
	// AutomaticEnv) so that callers and tests can supply their own.
	v := viper.New()
	file := opts.File
	if file == "" {
		file = getenv("CONFIG_FILE")
	}
	if file == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			file = "config.yaml"
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return nil, &SettingError{Setting: "CONFIG_FILE", Problem: fmt.Sprintf("cannot read %s: %v", file, err)}
		}
	}

	lookup := func(key string) (string, bool) {
		if s, ok := opts.Flags[key]; ok {
			return s, true
		}
		if s := getenv(EnvName(key)); s != "" {
			return s, true
		}
		if v.IsSet(key) {
			return fileString(v.Get(key)), true
		}
		return "", false
	}
	raw := map[string]string{}
	explicit := map[string]bool{}
	for _, s := range settings {
		if val, ok := lookup(s.key); ok {
			raw[s.key] = strings.TrimSpace(val)
			explicit[s.key] = true
		}
	}
	env := raw["environment"]
	if env == "" {
		env = EnvDevelopment
	}
	cfg := &Config{File: file, explicit: explicit}
	for _, s := range settings {
		val, ok := raw[s.key]
		if !ok {
			val, ok = opts.Defaults[s.key]
		}
		if !ok {
			val = s.defaultFor(env)
		}
		if err := s.parse(cfg, val); err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Warnings = append(warnings(cfg), unknownFileKeys(v, file)...)
	return cfg, nil
}

// unknownFileKeys warns about each key of the config file that names no
// setting (a typo such as "servr.port" would otherwise be ignored without
// a word).
func unknownFileKeys(v *viper.Viper, file string) []string {
	known := make(map[string]bool, len(settings))
	for _, s := range settings {
		known[s.key] = true
	}
	var w []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			w = append(w, fmt.Sprintf("%s: %q is not a known setting; it is ignored", file, k))
		}
	}
	sort.Strings(w)
	return w
}

// fileString renders a value read from the config file as the string an
// environment variable would hold (lists become comma-separated).
func fileString(x any) string {
	switch t := x.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(t, ",")
	}
	return fmt.Sprint(x)
}

// parseSize reads a byte count: a plain integer or one with a K, M or G
// suffix (KB/KiB etc. are read as powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 1048576, 512K, 1MiB)", s)
	}
	return n * mult, nil
}
