package deploy

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"sigs.k8s.io/yaml"
)

// The compose stack is loaded by compose-go, the library `docker compose`
// itself loads it with (the Compose Specification's schema, interpolation,
// path resolution), then checked field by field.

func composeDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(repositoryRoot(t), "deploy", "compose")
}

// loadCompose loads compose.yaml with env as the only environment: no
// .env file, none of the caller's variables.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	dir := composeDir(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return s
}

func envValue(s types.ServiceConfig, name string) (string, bool) {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return "", ok
	}
	return *v, true
}

// voiceEnv is the environment the voice image sets (its ENV lines).
func voiceEnv(t *testing.T) map[string]string {
	t.Helper()
	im, _ := parseDockerfile(t, readDockerfile(t))
	st, ok := im.stage("voice")
	if !ok {
		t.Fatal(`deploy/Dockerfile has no stage "voice"`)
	}
	env := map[string]string{}
	for _, c := range st.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	return env
}

func TestComposeStackHasEveryService(t *testing.T) {
	p := loadCompose(t)
	want := []string{"grafana", "iace", "iace-setup", "jaeger", "postgres", "prometheus", "redis"}
	if got := p.ServiceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for _, s := range p.Services {
		if s.Build != nil {
			continue
		}
		if !pinned(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a version tag", s.Name, s.Image)
		}
	}
	if img := service(t, p, "postgres").Image; !strings.HasPrefix(img, "pgvector/pgvector:") || !strings.HasSuffix(img, "-pg15") {
		t.Errorf("postgres image %q: want pgvector/pgvector on PostgreSQL 15, what CI tests against", img)
	}
}

func TestComposeBuildsTheVoiceImage(t *testing.T) {
	p := loadCompose(t)
	root := repositoryRoot(t)
	im, _ := parseDockerfile(t, readDockerfile(t))
	for _, name := range []string{"iace", "iace-setup"} {
		b := service(t, p, name).Build
		if b == nil {
			t.Fatalf("service %s is not built from the repository", name)
		}
		if b.Context != root {
			t.Errorf("service %s: build context %s, want the repository root %s", name, b.Context, root)
		}
		if b.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("service %s: dockerfile %q, want deploy/Dockerfile", name, b.Dockerfile)
		}
		if _, ok := im.stage(b.Target); !ok || b.Target != "voice" {
			t.Errorf("service %s: target %q, want the Dockerfile's voice stage", name, b.Target)
		}
	}
}

func TestComposeHealthAndStartOrder(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"iace", "postgres", "redis", "prometheus", "grafana"} {
		h := service(t, p, name).HealthCheck
		if h == nil || h.Disable || len(h.Test) < 2 {
			t.Errorf("service %s has no health check", name)
		}
	}
	// Jaeger's image has no shell or client to check itself with.
	if h := service(t, p, "jaeger").HealthCheck; h != nil && !h.Disable {
		t.Errorf("jaeger has a health check %v: its image has nothing to run it with", h.Test)
	}
	iace := service(t, p, "iace")
	internal := portOf(voiceEnv(t)["IACE_INTERNAL_ADDR"], "")
	if test := strings.Join(iace.HealthCheck.Test, " "); !strings.Contains(test, "/"+internal) || !strings.Contains(test, "/readyz") {
		t.Errorf("iace health check %q: want /readyz on the internal port %s", test, internal)
	}
	for dep, cond := range map[string]string{
		"postgres":   types.ServiceConditionHealthy,
		"redis":      types.ServiceConditionHealthy,
		"iace-setup": types.ServiceConditionCompletedSuccessfully,
	} {
		if got := iace.DependsOn[dep].Condition; got != cond {
			t.Errorf("iace depends on %s with condition %q, want %q", dep, got, cond)
		}
	}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				continue
			}
			if h := service(t, p, dep).HealthCheck; h == nil || h.Disable {
				t.Errorf("%s waits for %s to be healthy, which has no health check", s.Name, dep)
			}
		}
	}
	// Docker's default stop timeout (10 s) would kill iace mid-drain.
	drain := server(t).defaultDuration(t, "IACE_DRAIN_TIMEOUT")
	if v, ok := envValue(iace, "IACE_DRAIN_TIMEOUT"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		drain = d
	}
	if iace.StopGracePeriod == nil || time.Duration(*iace.StopGracePeriod) < drain+afterDrain {
		t.Errorf("iace stop_grace_period %v is shorter than its drain timeout %v and the shutdown after it %v", iace.StopGracePeriod, drain, afterDrain)
	}
}

func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	p := loadCompose(t)
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %d on %q: bind it to 127.0.0.1", s.Name, port.Target, port.HostIP)
			}
		}
	}
	for _, name := range []string{"postgres", "redis"} {
		if ports := service(t, p, name).Ports; len(ports) > 0 {
			t.Errorf("%s is published (%v): only the stack needs it", name, ports)
		}
	}
	env := voiceEnv(t)
	iace := service(t, p, "iace")
	for _, want := range []struct{ port, proto string }{
		{portOf(env["IACE_ADDR"], ""), "tcp"},
		{portOf(env["IACE_INTERNAL_ADDR"], ""), "tcp"},
		{env["IACE_WEBRTC_UDP_PORT"], "udp"},
	} {
		if !slices.ContainsFunc(iace.Ports, func(p types.ServicePortConfig) bool {
			return want.port != "" && strconv.Itoa(int(p.Target)) == want.port && strings.EqualFold(p.Protocol, want.proto)
		}) {
			t.Errorf("iace does not publish %s/%s, a listener of its image (ports %v)", want.port, want.proto, iace.Ports)
		}
	}
}

func TestComposeSettingsAndSecrets(t *testing.T) {
	f := server(t)
	p := loadCompose(t)
	iace := service(t, p, "iace")
	for name := range iace.Environment {
		if _, ok := f.lookup(name); strings.HasPrefix(name, "IACE_") && !ok {
			t.Errorf("iace: %s is not a setting of iace serve", name)
		}
	}
	for name := range service(t, p, "iace-setup").Environment {
		if _, ok := f.lookup(name); strings.HasPrefix(name, "IACE_") && !ok && name != "IACE_USER_PASSWORD" {
			t.Errorf("iace-setup: %s is not a setting of iace", name)
		}
	}
	// With nothing in the environment, no secret of iace has a value but
	// the URLs of the stack's own database and Redis.
	for _, name := range f.secretNames() {
		if name == "IACE_DATABASE_URL" || name == "IACE_REDIS_URL" {
			continue
		}
		if v, _ := envValue(iace, name); v != "" {
			t.Errorf("iace: secret %s defaults to a value in compose.yaml", name)
		}
	}
	// The environment (or .env) provides them.
	p = loadCompose(t, "IACE_AUTH_SECRET=from-the-environment-0123456789abcdef", "POSTGRES_PASSWORD=pw-from-env")
	iace = service(t, p, "iace")
	if v, _ := envValue(iace, "IACE_AUTH_SECRET"); v != "from-the-environment-0123456789abcdef" {
		t.Errorf("IACE_AUTH_SECRET from the environment did not reach iace: %q", v)
	}
	db, _ := envValue(iace, "IACE_DATABASE_URL")
	u, err := url.Parse(db)
	if err != nil {
		t.Fatalf("IACE_DATABASE_URL: %v", err)
	}
	if pw, _ := u.User.Password(); pw != "pw-from-env" || u.Hostname() != "postgres" {
		t.Errorf("IACE_DATABASE_URL does not use POSTGRES_PASSWORD and the postgres service: %s", u.Redacted())
	}
	if v, _ := envValue(service(t, p, "postgres"), "POSTGRES_PASSWORD"); v != "pw-from-env" {
		t.Errorf("postgres does not take POSTGRES_PASSWORD from the environment: %q", v)
	}
	// Traces go to Jaeger's OTLP/HTTP port.
	otlp, _ := envValue(iace, "IACE_OTLP_ENDPOINT")
	if u, err := url.Parse(otlp); err != nil || u.Hostname() != "jaeger" || u.Port() != "4318" {
		t.Errorf("IACE_OTLP_ENDPOINT %q: want Jaeger's OTLP/HTTP receiver, jaeger:4318", otlp)
	}
}

func TestComposeIaceRunsLocked(t *testing.T) {
	p := loadCompose(t)
	dataDir := voiceEnv(t)["IACE_DATA_DIR"]
	for _, name := range []string{"iace", "iace-setup"} {
		s := service(t, p, name)
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want read_only, cap_drop ALL and no-new-privileges", name)
		}
	}
	if !slices.ContainsFunc(service(t, p, "iace").Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Target == dataDir && !v.ReadOnly
	}) {
		t.Errorf("iace's data directory %s (the image's IACE_DATA_DIR) is not a writable volume on a read-only root", dataDir)
	}
}

// TestComposeMountsExist: every file the stack mounts is in the
// repository. The alert rules (deploy/prometheus/alerts.yml) and the
// dashboards (deploy/grafana/dashboards) are the monitoring pack's: until
// they exist their mounts are skipped, by name.
func TestComposeMountsExist(t *testing.T) {
	p := loadCompose(t)
	root := repositoryRoot(t)
	monitoringPack := map[string]bool{
		filepath.Join(root, "deploy", "prometheus", "alerts.yml"): true,
		filepath.Join(root, "deploy", "grafana", "dashboards"):    true,
	}
	var binds int
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s: volume %q is not declared", s.Name, v.Source)
				}
				continue
			}
			binds++
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s, outside the repository", s.Name, v.Source)
				continue
			}
			t.Run(s.Name+" "+filepath.ToSlash(rel), func(t *testing.T) {
				if !v.ReadOnly {
					t.Errorf("%s mounts %s writable", s.Name, rel)
				}
				if _, err := os.Stat(v.Source); err != nil {
					if monitoringPack[v.Source] {
						t.Skipf("%s, the monitoring pack's, does not exist yet", rel)
					}
					t.Errorf("%s mounts %s: %v", s.Name, rel, err)
				}
			})
		}
	}
	if binds < 6 {
		t.Errorf("found %d bind mounts: the check checked little", binds)
	}
}

// TestComposePrometheusAndGrafanaAgree: Prometheus scrapes iace where it
// listens and loads the rules where they are mounted; Grafana's data
// sources point at the stack's services and its dashboards provider at
// the mounted dashboards.
func TestComposePrometheusAndGrafanaAgree(t *testing.T) {
	p := loadCompose(t)
	mountTarget := func(svc, sourceSuffix string) string {
		for _, v := range service(t, p, svc).Volumes {
			if strings.HasSuffix(filepath.ToSlash(v.Source), sourceSuffix) {
				return v.Target
			}
		}
		t.Fatalf("%s mounts nothing ending in %s", svc, sourceSuffix)
		return ""
	}
	var prom struct {
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	readYAML(t, filepath.Join(composeDir(t), "prometheus.yml"), &prom)
	if target := mountTarget("prometheus", "deploy/compose/prometheus.yml"); !slices.Contains(service(t, p, "prometheus").Command, "--config.file="+target) {
		t.Errorf("prometheus does not load its mounted configuration %s", target)
	}
	rules := mountTarget("prometheus", "deploy/prometheus/alerts.yml")
	if !slices.ContainsFunc(prom.RuleFiles, func(glob string) bool { ok, _ := filepath.Match(glob, rules); return ok }) {
		t.Errorf("rule_files %v do not load the mounted alert rules %s", prom.RuleFiles, rules)
	}
	internal := portOf(voiceEnv(t)["IACE_INTERNAL_ADDR"], "")
	var scraped bool
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, _ := net.SplitHostPort(target)
				if host == "iace" && port == internal && (sc.MetricsPath == "" || sc.MetricsPath == "/metrics") {
					scraped = true
				}
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape iace:%s/metrics", internal)
	}
	if !slices.Contains(service(t, p, "prometheus").Command, "--enable-feature=exemplar-storage") {
		t.Error("prometheus keeps no exemplars: the latency histograms' trace ids would be dropped")
	}

	provisioning := mountTarget("grafana", "deploy/grafana/provisioning")
	if provisioning != "/etc/grafana/provisioning" {
		t.Errorf("Grafana reads its provisioning from /etc/grafana/provisioning, not %s", provisioning)
	}
	var ds struct {
		Datasources []struct {
			Name     string `json:"name"`
			UID      string `json:"uid"`
			Type     string `json:"type"`
			URL      string `json:"url"`
			JSONData struct {
				Exemplars []struct {
					Name          string `json:"name"`
					DatasourceUID string `json:"datasourceUid"`
				} `json:"exemplarTraceIdDestinations"`
			} `json:"jsonData"`
		} `json:"datasources"`
	}
	readYAML(t, filepath.Join(repositoryRoot(t), "deploy", "grafana", "provisioning", "datasources", "datasources.yaml"), &ds)
	urls := map[string]string{"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}
	uids := map[string]string{}
	for _, d := range ds.Datasources {
		uids[d.Type] = d.UID
		if want, ok := urls[d.Type]; !ok || d.URL != want {
			t.Errorf("data source %s (%s) at %q, want %q", d.Name, d.Type, d.URL, want)
		}
		if _, err := p.GetService(d.Type); err != nil {
			t.Errorf("data source %s: no service %s in the stack", d.Name, d.Type)
		}
	}
	if len(uids) != 2 {
		t.Fatalf("want a Prometheus and a Jaeger data source, found %v", uids)
	}
	for _, d := range ds.Datasources {
		for _, e := range d.JSONData.Exemplars {
			if e.Name != "trace_id" || e.DatasourceUID != uids["jaeger"] {
				t.Errorf("exemplar link %s -> %s: want trace_id (media.TraceID) -> the Jaeger data source", e.Name, e.DatasourceUID)
			}
		}
	}
	var dash struct {
		Providers []struct {
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	readYAML(t, filepath.Join(repositoryRoot(t), "deploy", "grafana", "provisioning", "dashboards", "dashboards.yaml"), &dash)
	if want := mountTarget("grafana", "deploy/grafana/dashboards"); len(dash.Providers) != 1 || dash.Providers[0].Options.Path != want {
		t.Errorf("the dashboards provider reads %v, not the mounted dashboards %s", dash.Providers, want)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
