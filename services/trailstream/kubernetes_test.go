package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/trailstream/trailstream/pkg/config"
)

// serviceTargets are the targets that run as long-lived services, one Deployment each.
var serviceTargets = []string{"fetcher", "normalizer", "detector", "sink", "notifier", "console"}

// statelessStages are the services a HorizontalPodAutoscaler may scale: consumer groups whose
// instances hold no state (the detector's is per partition, see deploy/kubernetes/base).
var statelessStages = []string{"normalizer", "sink"}

// maxMemoryLimit is the most memory a service may be given: every service stays under 256 MiB.
const maxMemoryLimit = 256 << 20

// TestKubernetesMatchesBinary renders deploy/kubernetes (the base and the example overlay) with
// kustomize and checks the objects against the binary, as TestComposeMatchesBinary does for
// docker-compose.yml: the targets the containers run, the TRAILSTREAM_* settings, probes on the
// metrics port, resources, the security context, the secrets given only as files, the
// autoscalers and the console's Service.
func TestKubernetesMatchesBinary(t *testing.T) {
	kustomize := kustomizeBinary(t)
	options := targetOptions()
	cases := []struct {
		dir       string
		namespace string // of every namespaced object; empty: none set
		image     string // every container's
	}{
		{"../../deploy/kubernetes/base", "", "trailstream:latest"},
		{"../../deploy/kubernetes/overlays/example", "trailstream", "registry.example.com/security/trailstream:1.4.0"},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			objs := render(t, kustomize, tc.dir)
			checkManifests(t, objs, options, tc.namespace, tc.image)
		})
	}
}

// targetOptions maps every target's name to the environment variables of its options.
func targetOptions() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, tg := range targets {
		fs := flag.NewFlagSet(tg.name, flag.ContinueOnError)
		c := config.Default()
		tg.setup(fs, &c)
		opts := map[string]bool{}
		fs.VisitAll(func(f *flag.Flag) { opts[config.EnvName(f.Name)] = true })
		out[tg.name] = opts
	}
	return out
}

// kustomizeBinary is the kustomize `make kustomize` installs: the version the Makefile pins,
// in .local/tools. Missing, the test fails with the command that installs it.
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^KUSTOMIZE_VERSION := (v[0-9][^\s]*)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile pins no KUSTOMIZE_VERSION")
	}
	version := string(m[1])
	bin, err := filepath.Abs(filepath.Join("../../.local/tools", "kustomize-"+version, "kustomize"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kustomize %s is not installed (%v); install it with `make kustomize`, which runs\n  GOBIN=%s go install sigs.k8s.io/kustomize/kustomize/v5@%s",
			version, err, filepath.Dir(bin), version)
	}
	return bin
}

// object is what the checks read of a rendered Kubernetes object.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		// Deployment
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// Service: selector is a plain map there, read as ServiceSelector
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// HorizontalPodAutoscaler
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		Metrics     []struct {
			Type     string `yaml:"type"`
			Resource struct {
				Name string `yaml:"name"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
	serviceSelector map[string]string
}

type podSpec struct {
	SecurityContext securityContext `yaml:"securityContext"`
	Containers      []container     `yaml:"containers"`
	Volumes         []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool `yaml:"privileged"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef    any `yaml:"secretKeyRef"`
			ConfigMapKeyRef any `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef any `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// render runs kustomize build on dir and decodes every object it prints.
func render(t *testing.T, kustomize, dir string) []object {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kustomize, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(stdout.Bytes()))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kustomize build %s printed YAML that does not decode: %v", dir, err)
		}
		var o object
		if err := node.Decode(&o); err != nil {
			t.Fatalf("kustomize build %s: an object that does not decode: %v", dir, err)
		}
		if o.Kind == "Service" {
			var s struct {
				Spec struct {
					Selector map[string]string `yaml:"selector"`
				} `yaml:"spec"`
			}
			if err := node.Decode(&s); err != nil {
				t.Fatal(err)
			}
			o.serviceSelector = s.Spec.Selector
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatalf("kustomize build %s rendered nothing", dir)
	}
	return objs
}

func checkManifests(t *testing.T, objs []object, options map[string]map[string]bool, namespace, image string) {
	anyOption := map[string]bool{}
	for _, opts := range options {
		for o := range opts {
			anyOption[o] = true
		}
	}
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]object{}
		}
		byKind[o.Kind][o.Metadata.Name] = o
		if o.Kind != "Namespace" && o.Metadata.Namespace != namespace {
			t.Errorf("%s %s is in namespace %q, want %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace, namespace)
		}
	}
	for name, cm := range byKind["ConfigMap"] {
		for key := range cm.Data {
			if strings.HasPrefix(key, "TRAILSTREAM_") && !anyOption[key] {
				t.Errorf("ConfigMap %s sets %s, which no target reads", name, key)
			}
		}
	}

	dockerfile, err := os.ReadFile("../../deploy/docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^USER 65532:65532$`).Match(dockerfile) {
		t.Error("deploy/docker/Dockerfile does not run as 65532:65532, the user the pods run as")
	}

	deployments := map[string]object{} // by target
	for name, d := range byKind["Deployment"] {
		pod := d.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Errorf("Deployment %s has %d containers, want 1", name, len(pod.Containers))
			continue
		}
		c := pod.Containers[0]
		if len(c.Command) > 0 {
			t.Errorf("Deployment %s: command %q replaces the image's entrypoint, the binary", name, c.Command)
		}
		if len(c.Args) == 0 || options[c.Args[0]] == nil {
			t.Errorf("Deployment %s runs args %q, whose first is not a target of the binary", name, c.Args)
			continue
		}
		target := c.Args[0]
		if prev, ok := deployments[target]; ok {
			t.Errorf("Deployments %s and %s both run %s", prev.Metadata.Name, name, target)
		}
		deployments[target] = d
		if c.Image != image {
			t.Errorf("Deployment %s runs image %q, want %q", name, c.Image, image)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("Deployment %s: its selector %s=%s does not select its own pods", name, k, v)
			}
		}
		checkContainer(t, name, target, pod, c, byKind, options[target], anyOption, d.Spec.Template.Metadata.Annotations)
	}
	for _, s := range serviceTargets {
		if options[s] == nil {
			t.Errorf("%s is no target of the binary", s)
		}
		if _, ok := deployments[s]; !ok {
			t.Errorf("no Deployment runs %s", s)
		}
	}

	hpaFor := map[string]bool{}
	for name, h := range byKind["HorizontalPodAutoscaler"] {
		if h.APIVersion != "autoscaling/v2" {
			t.Errorf("HorizontalPodAutoscaler %s is %s, want autoscaling/v2", name, h.APIVersion)
		}
		ref := h.Spec.ScaleTargetRef
		d, ok := byKind["Deployment"][ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok {
			t.Errorf("HorizontalPodAutoscaler %s scales %s %s %q, which is not a Deployment here", name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		target := d.Spec.Template.Spec.Containers[0].Args[0]
		if !slices.Contains(statelessStages, target) {
			t.Errorf("HorizontalPodAutoscaler %s scales %s, which is not one of the stateless stages %v", name, target, statelessStages)
		}
		hpaFor[target] = true
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas, which undoes HorizontalPodAutoscaler %s's at every apply", ref.Name, name)
		}
		cpu := false
		for _, m := range h.Spec.Metrics {
			cpu = cpu || (m.Type == "Resource" && m.Resource.Name == "cpu")
		}
		if !cpu {
			t.Errorf("HorizontalPodAutoscaler %s does not scale on CPU", name)
		}
		if h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < h.Spec.MinReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: replicas %d to %d", name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		env := effectiveEnv(d.Spec.Template.Spec.Containers[0], byKind)
		partitions, err := strconv.Atoi(env["TRAILSTREAM_KAFKA_PARTITIONS"])
		if err != nil {
			t.Errorf("Deployment %s: TRAILSTREAM_KAFKA_PARTITIONS=%q is not a number", ref.Name, env["TRAILSTREAM_KAFKA_PARTITIONS"])
		} else if h.Spec.MaxReplicas > partitions {
			t.Errorf("HorizontalPodAutoscaler %s scales to %d, past the %d partitions an instance needs one of", name, h.Spec.MaxReplicas, partitions)
		}
	}
	for _, s := range statelessStages {
		if !hpaFor[s] {
			t.Errorf("no HorizontalPodAutoscaler scales %s", s)
		}
	}

	console, ok := deployments["console"]
	if !ok {
		return
	}
	served := false
	for name, s := range byKind["Service"] {
		labels := console.Spec.Template.Metadata.Labels
		selects := len(s.serviceSelector) > 0
		for k, v := range s.serviceSelector {
			selects = selects && labels[k] == v
		}
		if !selects {
			continue
		}
		for _, p := range s.Spec.Ports {
			for _, cp := range console.Spec.Template.Spec.Containers[0].Ports {
				if cp.ContainerPort == 8080 && (p.TargetPort == cp.Name || p.TargetPort == "8080") {
					served = true
				}
			}
		}
		if !served {
			t.Errorf("Service %s selects the console's pods but sends to no port 8080 of theirs", name)
		}
	}
	if !served {
		t.Error("no Service sends to the console's port 8080")
	}
}

// effectiveEnv is the container's environment: its ConfigMaps' keys, then its own variables.
func effectiveEnv(c container, byKind map[string]map[string]object) map[string]string {
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			for k, v := range byKind["ConfigMap"][ef.ConfigMapRef.Name].Data {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func checkContainer(t *testing.T, name, target string, pod podSpec, c container, byKind map[string]map[string]object, opts, anyOption map[string]bool, annotations map[string]string) {
	t.Helper()
	where := fmt.Sprintf("Deployment %s (%s)", name, target)

	// Settings: the container's own are options of its target; a ConfigMap it reads must exist
	// and no secret comes by environment.
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "TRAILSTREAM_") && !opts[e.Name] {
			t.Errorf("%s sets %s, which %s does not read", where, e.Name, target)
		}
		if e.ValueFrom != nil {
			t.Errorf("%s: %s comes from a Secret or ConfigMap key; secrets are given as files", where, e.Name)
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			t.Errorf("%s takes environment variables from a Secret; secrets are given as files", where)
		}
		if ef.ConfigMapRef != nil {
			if _, ok := byKind["ConfigMap"][ef.ConfigMapRef.Name]; !ok {
				t.Errorf("%s reads ConfigMap %s, which is not rendered", where, ef.ConfigMapRef.Name)
			}
		}
	}
	env := effectiveEnv(c, byKind)
	for k, v := range env {
		if !strings.HasPrefix(k, "TRAILSTREAM_") {
			continue
		}
		// A secret is an option with a -file twin: only the file may be given.
		if anyOption[k+"_FILE"] {
			t.Errorf("%s gives the secret %s by environment; give %s_FILE, a file of a Secret", where, k, k)
		}
		secretFile := strings.HasSuffix(k, "_FILE") && anyOption[strings.TrimSuffix(k, "_FILE")] || k == "TRAILSTREAM_CONSOLE_USERS"
		if secretFile || strings.HasPrefix(v, "/") {
			checkFile(t, where, k, v, secretFile, pod, c, byKind)
		}
	}

	// Metrics and probes.
	if got := env["TRAILSTREAM_METRICS_ADDR"]; got != "0.0.0.0:9100" {
		t.Errorf("%s: TRAILSTREAM_METRICS_ADDR=%q, want 0.0.0.0:9100", where, got)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 9100 {
		t.Errorf("%s: container port metrics is %d, want 9100", where, ports["metrics"])
	}
	for _, p := range []struct {
		kind  string
		probe *probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s has no HTTP %s probe", where, p.kind)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || (p.probe.HTTPGet.Port != "metrics" && p.probe.HTTPGet.Port != "9100") {
			t.Errorf("%s: %s probe on %s port %s, want %s on the metrics port", where, p.kind, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path)
		}
	}
	for k, want := range map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics"} {
		if annotations[k] != want {
			t.Errorf("%s: pod annotation %s=%q, want %q", where, k, annotations[k], want)
		}
	}
	if target == "console" {
		if env["TRAILSTREAM_CONSOLE_ADDR"] != "0.0.0.0:8080" || ports["http"] != 8080 {
			t.Errorf("%s: TRAILSTREAM_CONSOLE_ADDR=%q and port http %d, want 0.0.0.0:8080 and 8080", where, env["TRAILSTREAM_CONSOLE_ADDR"], ports["http"])
		}
		if env["TRAILSTREAM_CONSOLE_HOSTS"] == "" {
			t.Errorf("%s names no TRAILSTREAM_CONSOLE_HOSTS; it answers only localhost without", where)
		}
		if env["TRAILSTREAM_CONSOLE_USERS"] == "" {
			t.Errorf("%s has no TRAILSTREAM_CONSOLE_USERS; it does not start on the pod's network without users", where)
		}
	}

	// Resources.
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			t.Errorf("%s: %s request %q, limit %q; want both", where, r, c.Resources.Requests[r], c.Resources.Limits[r])
		}
	}
	limit, err := parseBytes(c.Resources.Limits["memory"])
	if err != nil {
		t.Errorf("%s: memory limit: %v", where, err)
	} else if limit > maxMemoryLimit {
		t.Errorf("%s: memory limit %s is over 256Mi", where, c.Resources.Limits["memory"])
	}
	if req, err := parseBytes(c.Resources.Requests["memory"]); err != nil || req > limit {
		t.Errorf("%s: memory request %q is not a size within the limit (%v)", where, c.Resources.Requests["memory"], err)
	}

	// Security context: the container's, else the pod's.
	sc, psc := c.SecurityContext, pod.SecurityContext
	isTrue := func(b, pod *bool) bool {
		if b != nil {
			return *b
		}
		return pod != nil && *pod
	}
	if !isTrue(sc.RunAsNonRoot, psc.RunAsNonRoot) {
		t.Errorf("%s does not set runAsNonRoot", where)
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid != 65532 {
		t.Errorf("%s does not run as user 65532, the image's", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem not read-only", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: privilege escalation not forbidden", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s is privileged", where)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities drop %q, add %q; want ALL dropped, none added", where, sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	seccomp := sc.SeccompProfile.Type
	if seccomp == "" {
		seccomp = psc.SeccompProfile.Type
	}
	if seccomp != "RuntimeDefault" {
		t.Errorf("%s: seccomp profile %q, want RuntimeDefault", where, seccomp)
	}
}

// checkFile checks that the file an option names is in a volume mounted in the container: for a
// secret, read-only from a Secret that has the file.
func checkFile(t *testing.T, where, key, path string, secret bool, pod podSpec, c container, byKind map[string]map[string]object) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if !strings.HasPrefix(path, dir) {
			continue
		}
		file := strings.TrimPrefix(path, dir)
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				s, ok := byKind["Secret"][v.Secret.SecretName]
				if !ok {
					t.Errorf("%s: %s=%s is in Secret %s, which is not rendered", where, key, path, v.Secret.SecretName)
				} else if _, ok := s.Data[file]; !ok {
					t.Errorf("%s: %s=%s, but Secret %s has no %s", where, key, path, v.Secret.SecretName, file)
				}
				if !m.ReadOnly {
					t.Errorf("%s: the Secret at %s is not mounted read-only", where, m.MountPath)
				}
			case secret:
				t.Errorf("%s: the secret %s=%s is not in a Secret's volume", where, key, path)
			case v.ConfigMap != nil:
				cm, ok := byKind["ConfigMap"][v.ConfigMap.Name]
				if _, has := cm.Data[file]; !ok || !has {
					t.Errorf("%s: %s=%s, but ConfigMap %s (mounted at %s) has no %s", where, key, path, v.ConfigMap.Name, m.MountPath, file)
				}
			}
			return
		}
	}
	t.Errorf("%s: %s=%s is in no volume the container mounts", where, key, path)
}

// parseBytes reads a Kubernetes memory quantity with a binary or decimal suffix (or none).
func parseBytes(q string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("memory %q: %w", q, err)
			}
			return v * u.mult, nil
		}
	}
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory %q: %w", q, err)
	}
	return v, nil
}
