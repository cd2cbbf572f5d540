package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/audit"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/httpapi"
	"github.com/mtdb/mtdb/internal/projects"
	"github.com/mtdb/mtdb/internal/tenants"
	"github.com/mtdb/mtdb/internal/users"
)

const k8sDir = "kubernetes"

// kustomization is the part of kustomize's Kustomization the manifests
// use (kustomize's own types are not a dependency here); decoded strictly
// like the rest, so a misspelt field fails.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests holds every decoded file of deploy/kubernetes.
type manifests struct {
	kustomization kustomization
	deployment    *appsv1.Deployment
	job           *batchv1.Job
	service       *corev1.Service
	pdb           *policyv1.PodDisruptionBudget
	secret        *corev1.Secret // secret.example.yaml
	files         map[string]any
}

// decodeManifests strictly decodes every YAML file of deploy/kubernetes
// into the real Kubernetes API type of its kind: unknown or misplaced
// fields, wrong types and unknown kinds fail the test.
func decodeManifests(t *testing.T) manifests {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	m := manifests{files: map[string]any{}}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("\n---")) {
			t.Errorf("%s: one object per file, please", path)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(b, &head); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "kustomize.config.k8s.io/v1beta1 Kustomization":
			obj = &m.kustomization
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		case "batch/v1 Job":
			m.job = &batchv1.Job{}
			obj = m.job
		case "v1 Service":
			m.service = &corev1.Service{}
			obj = m.service
		case "policy/v1 PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj = m.pdb
		case "v1 Secret":
			m.secret = &corev1.Secret{}
			obj = m.secret
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		default:
			t.Fatalf("%s: unexpected %s %s (add its type to the test)", path, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		m.files[filepath.Base(path)] = obj
	}
	if m.deployment == nil || m.job == nil || m.service == nil || m.pdb == nil || m.secret == nil {
		t.Fatalf("want a Deployment, a Job, a Service, a PodDisruptionBudget and an example Secret; have %v", keys(m.files))
	}
	return m
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestKubernetesManifests decodes every manifest and checks it against the
// server: probe paths answer as liveness and readiness do, the probed port
// is the configured one, the shutdown budget covers the configured grace
// and drain, every environment variable is a setting mtdb knows, and the
// security context is locked down.
func TestKubernetesManifests(t *testing.T) {
	m := decodeManifests(t)

	t.Run("kustomization", func(t *testing.T) {
		var want []string
		for name := range m.files {
			if name != "kustomization.yaml" && name != "secret.example.yaml" {
				want = append(want, name)
			}
		}
		sort.Strings(want)
		got := slices.Sorted(slices.Values(m.kustomization.Resources))
		if !slices.Equal(got, want) {
			t.Errorf("kustomization resources = %q, want every manifest but the example Secret: %q", got, want)
		}
	})

	dep := m.deployment
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("deployment: %d containers, want 1", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	cfg := manifestConfig(t, ctr)

	t.Run("commands", func(t *testing.T) {
		if !slices.Equal(ctr.Args, []string{"serve"}) || len(ctr.Command) > 0 {
			t.Errorf("deployment runs %q %q, want the image's entrypoint with [serve]", ctr.Command, ctr.Args)
		}
		jc := m.job.Spec.Template.Spec.Containers
		if len(jc) != 1 || !slices.Equal(jc[0].Args, []string{"migrate", "apply"}) || jc[0].Image != ctr.Image {
			t.Errorf("migration job must run [migrate apply] with the deployment's image")
		}
	})

	t.Run("probes", func(t *testing.T) {
		srv := unreachableServer(t, cfg) // no database: readiness must say so
		for name, p := range map[string]*corev1.Probe{"startup": ctr.StartupProbe, "liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s probe: want an httpGet probe", name)
				continue
			}
			if port := containerPort(t, ctr, p.HTTPGet.Port); port != cfg.Server.Port {
				t.Errorf("%s probe port %d, want SERVER_PORT %d", name, port, cfg.Server.Port)
			}
			// Liveness and startup must not depend on the database;
			// readiness must report it (503 not_ready without one).
			wantCode, wantStatus := http.StatusOK, "alive"
			if name == "readiness" {
				wantCode, wantStatus = http.StatusServiceUnavailable, "not_ready"
			}
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.HTTPGet.Path, nil))
			var body struct{ Status string }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != wantCode || body.Status != wantStatus {
				t.Errorf("%s probe GET %s without a database: %d %q, want %d %q", name, p.HTTPGet.Path, rec.Code, body.Status, wantCode, wantStatus)
			}
		}
	})

	t.Run("service and budget", func(t *testing.T) {
		labels := dep.Spec.Template.Labels
		for name, sel := range map[string]map[string]string{
			"deployment selector": dep.Spec.Selector.MatchLabels,
			"service selector":    m.service.Spec.Selector,
			"pdb selector":        m.pdb.Spec.Selector.MatchLabels,
		} {
			for k, v := range sel {
				if labels[k] != v || len(sel) == 0 {
					t.Errorf("%s %v does not match the pod labels %v", name, sel, labels)
				}
			}
		}
		for _, p := range m.service.Spec.Ports {
			if port := containerPort(t, ctr, p.TargetPort); port != cfg.Server.Port {
				t.Errorf("service port %s targets %d, want SERVER_PORT %d", p.Name, port, cfg.Server.Port)
			}
		}
		if r := dep.Spec.Replicas; r == nil || m.pdb.Spec.MinAvailable == nil || m.pdb.Spec.MinAvailable.IntValue() >= int(*r) {
			t.Errorf("the disruption budget must allow a drain: replicas %v, minAvailable %v", dep.Spec.Replicas, m.pdb.Spec.MinAvailable)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		var preStop time.Duration
		if l := ctr.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
			preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
		} else {
			t.Errorf("want a preStop sleep (the image has no shell for an exec hook)")
		}
		if preStop < cfg.Server.ShutdownGrace {
			t.Errorf("preStop sleep %s shorter than SERVER_SHUTDOWN_GRACE %s", preStop, cfg.Server.ShutdownGrace)
		}
		need := preStop + cfg.Server.ShutdownGrace + cfg.Server.ShutdownTimeout
		if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
			t.Errorf("terminationGracePeriodSeconds %v must exceed preStop %s + SERVER_SHUTDOWN_GRACE %s + SERVER_SHUTDOWN_TIMEOUT %s",
				pod.TerminationGracePeriodSeconds, preStop, cfg.Server.ShutdownGrace, cfg.Server.ShutdownTimeout)
		}
	})

	t.Run("resources", func(t *testing.T) {
		peak := resource.MustParse("64Mi") // the benchmark's peak RSS (bench/README.md)
		req, lim := ctr.Resources.Requests, ctr.Resources.Limits
		if req.Memory().Cmp(peak) < 0 || lim.Memory().Cmp(*req.Memory()) < 0 || req.Cpu().IsZero() || lim.Cpu().IsZero() {
			t.Errorf("resources %v / %v: want requests >= the bench peak RSS %s, limits >= requests, CPU set", req, lim, &peak)
		}
	})

	t.Run("security", func(t *testing.T) {
		for name, spec := range map[string]corev1.PodSpec{"deployment": pod, "job": m.job.Spec.Template.Spec} {
			checkPodSecurity(t, name, spec)
		}
	})

	t.Run("settings and secrets", func(t *testing.T) {
		known := map[string]bool{"GOMEMLIMIT": true}
		for _, s := range config.Docs() {
			known[s.Env] = true
		}
		for name, spec := range map[string]corev1.PodSpec{"deployment": pod, "job": m.job.Spec.Template.Spec} {
			for _, c := range spec.Containers {
				for _, e := range c.Env {
					if !known[e.Name] {
						t.Errorf("%s sets %s, which is no mtdb setting", name, e.Name)
					}
					if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						continue
					}
					ref := e.ValueFrom.SecretKeyRef
					if _, ok := m.secret.StringData[ref.Key]; ref.Name != m.secret.Name || !ok {
						t.Errorf("%s: %s refers to secret %s key %s, not in secret.example.yaml", name, e.Name, ref.Name, ref.Key)
					}
				}
			}
		}
	})
}

// unreachableServer builds the server as `mtdb serve` wires it, over a
// database that does not answer (pools connect lazily).
func unreachableServer(t *testing.T, cfg *config.Config) *httpapi.Server {
	t.Helper()
	db, err := database.Open(context.Background(), database.Options{URL: "postgres://mtdb@127.0.0.1:1/mtdb?sslmode=disable", ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(cfg.JWT.SecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.NewServer(cfg, slog.New(slog.DiscardHandler), httpapi.Deps{
		Health: health.New(health.Options{Ping: db.Pool.Ping, Timeout: time.Second}), Pool: db.Pool, Verifier: v, Ent: db.Ent,
		Tenants: tenants.NewService(db.Ent), Users: users.NewService(db.Ent), Projects: projects.NewService(db.Ent), Audit: audit.NewService(db.Ent),
		APIKeys: apikeys.NewService(db.Ent), APIKeyAuth: apikeys.NewAuthenticator(db.Ent, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// manifestConfig loads mtdb's configuration the way the container would:
// the Deployment's literal environment values over the built-in defaults
// (secrets replaced by valid stand-ins).
func manifestConfig(t *testing.T, ctr corev1.Container) *config.Config {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":   "postgres://mtdb_api@db:5432/mtdb",
		"JWT_SECRET_KEY": strings.Repeat("k", 32),
	}
	for _, e := range ctr.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	dir := t.TempDir() // no config.yaml: defaults only
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	cfg, err := config.Load(config.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatalf("the deployment's environment is refused: %v", err)
	}
	return cfg
}

// containerPort resolves a probe's or service's port (number or name) to
// the container port number.
func containerPort(t *testing.T, ctr corev1.Container, p intstr.IntOrString) int {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range ctr.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	t.Errorf("port %q is not a named port of container %s", p.StrVal, ctr.Name)
	return 0
}

// checkPodSecurity requires a non-root pod whose containers cannot gain
// privileges, hold no capabilities and cannot write their root filesystem.
func checkPodSecurity(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	ps := spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("%s: want runAsNonRoot and a non-zero runAsUser", name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: mount no service account token (mtdb does not call the Kubernetes API)", name)
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s container %s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop [ALL]; have %s", name, c.Name, describe(sc))
		}
	}
}

func describe(v any) string {
	var b bytes.Buffer
	_ = json.NewEncoder(io.Writer(&b)).Encode(v)
	return fmt.Sprint(strings.TrimSpace(b.String()))
}
