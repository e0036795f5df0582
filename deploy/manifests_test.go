package deploy

import (
	"bufio"
	"fmt"
	iofs "io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The Kubernetes manifests are checked the way `kubectl apply -k` would
// see them: each overlay is built with kustomize's own library (krusty),
// every object is decoded into its Kubernetes API type with unknown and
// duplicate fields refused (schema validation by typed decoding, the
// ServiceMonitor into the Prometheus Operator's type), and then the fields
// an operator relies on are checked against the server's own settings and
// metrics.

// cluster is what one overlay creates.
type cluster struct {
	overlay     string
	namespaces  []*corev1.Namespace
	deployments []*appsv1.Deployment
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	services    []*corev1.Service
	accounts    []*corev1.ServiceAccount
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	ingresses   []*networkingv1.Ingress
	policies    []*networkingv1.NetworkPolicy
	monitors    []*monitoringv1.ServiceMonitor
	namespaced  []metav1.Object // every namespaced object
}

func overlayDir(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(repositoryRoot(t), "deploy", "kubernetes", "overlays", name)
}

// buildOverlay runs kustomize on an overlay and decodes what it makes.
func buildOverlay(t *testing.T, name string) *cluster {
	t.Helper()
	return buildOverlayIn(t, filesys.MakeFsOnDisk(), overlayDir(t, name), name)
}

// buildOverlayIn builds the overlay in dir of fs, which may be a copy.
func buildOverlayIn(t *testing.T, fs filesys.FileSystem, dir, name string) *cluster {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		t.Fatalf("kustomize build overlays/%s: %v", name, err)
	}
	c := &cluster{overlay: name}
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%s/%s %s", r.GetApiVersion(), r.GetKind(), r.GetName())
		var obj metav1.Object
		decode := func(v metav1.Object) {
			strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
			if err != nil {
				t.Errorf("%s: %v", id, err)
			}
			for _, e := range strict {
				t.Errorf("%s: %v", id, e)
			}
			obj = v
		}
		switch r.GetApiVersion() + " " + r.GetKind() {
		case "v1 Namespace":
			v := &corev1.Namespace{}
			decode(v)
			c.namespaces = append(c.namespaces, v)
			continue // not namespaced
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			decode(v)
			c.configMaps = append(c.configMaps, v)
		case "v1 Secret":
			v := &corev1.Secret{}
			decode(v)
			c.secrets = append(c.secrets, v)
		case "v1 Service":
			v := &corev1.Service{}
			decode(v)
			c.services = append(c.services, v)
		case "v1 ServiceAccount":
			v := &corev1.ServiceAccount{}
			decode(v)
			c.accounts = append(c.accounts, v)
		case "apps/v1 Deployment":
			v := &appsv1.Deployment{}
			decode(v)
			c.deployments = append(c.deployments, v)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			v := &autoscalingv2.HorizontalPodAutoscaler{}
			decode(v)
			c.hpas = append(c.hpas, v)
		case "policy/v1 PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			decode(v)
			c.pdbs = append(c.pdbs, v)
		case "networking.k8s.io/v1 Ingress":
			v := &networkingv1.Ingress{}
			decode(v)
			c.ingresses = append(c.ingresses, v)
		case "networking.k8s.io/v1 NetworkPolicy":
			v := &networkingv1.NetworkPolicy{}
			decode(v)
			c.policies = append(c.policies, v)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			v := &monitoringv1.ServiceMonitor{}
			decode(v)
			c.monitors = append(c.monitors, v)
		default:
			t.Errorf("%s: a kind this test does not know; add its Go type", id)
			continue
		}
		c.namespaced = append(c.namespaced, obj)
	}
	return c
}

// env is a container's environment as the kubelet would build it: the
// ConfigMaps of envFrom, then env (which wins).
type envVar struct {
	value string
	from  *corev1.EnvVarSource // nil: a literal (or from a ConfigMap)
}

func (c *cluster) environment(ctr corev1.Container) (map[string]envVar, []string) {
	var problems []string
	out := map[string]envVar{}
	for _, ef := range ctr.EnvFrom {
		if ef.ConfigMapRef == nil {
			problems = append(problems, "envFrom other than a ConfigMap")
			continue
		}
		cm := c.configMap(ef.ConfigMapRef.Name)
		if cm == nil {
			problems = append(problems, fmt.Sprintf("envFrom ConfigMap %q is not in the overlay", ef.ConfigMapRef.Name))
			continue
		}
		for k, v := range cm.Data {
			out[k] = envVar{value: v}
		}
	}
	for _, e := range ctr.Env {
		out[e.Name] = envVar{value: e.Value, from: e.ValueFrom}
	}
	return out, problems
}

func (c *cluster) configMap(name string) *corev1.ConfigMap {
	for _, cm := range c.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

func (c *cluster) secret(name string) *corev1.Secret {
	for _, s := range c.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// setting is a server setting's value in a container: its environment, or
// the server's default.
func settingValue(env map[string]envVar, f serverFacts, name string) string {
	if v, ok := env[name]; ok && v.value != "" {
		return v.value
	}
	s, _ := f.lookup(name)
	if s.Default == `""` {
		return ""
	}
	return s.Default
}

// secretKeys reads the keys of an env file such as secrets.env.example.
func secretKeys(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	keys := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not KEY=value", path, line)
		}
		keys[k] = true
	}
	return keys, sc.Err()
}

// expect says what an overlay must contain beyond what every one must.
type expect struct {
	production bool
	// exampleSecrets: the keys of the Secret the operator creates, for an
	// overlay that does not generate it.
	exampleSecrets map[string]bool
}

// workload is one Deployment of an overlay with what the checks ask of it
// again and again.
type workload struct {
	d   *appsv1.Deployment
	ctr corev1.Container
	env map[string]envVar
	// takesCalls: the pods accept media streams (IACE_TAKE_CALLS is not
	// false); the others serve the API and the webhooks alone.
	takesCalls bool
}

func (w *workload) labels() labels.Set { return labels.Set(w.d.Spec.Template.Labels) }

func (w *workload) port(name string) *corev1.ContainerPort {
	for i := range w.ctr.Ports {
		if w.ctr.Ports[i].Name == name {
			return &w.ctr.Ports[i]
		}
	}
	return nil
}

// selected returns the workloads whose pods a selector matches.
func selected(ws []*workload, sel labels.Selector) []*workload {
	var out []*workload
	for _, w := range ws {
		if !sel.Empty() && sel.Matches(w.labels()) {
			out = append(out, w)
		}
	}
	return out
}

// check returns what is wrong with an overlay's objects.
func (c *cluster) check(f serverFacts, ex expect) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(c.namespaces) != 1 {
		bad("want the overlay's one Namespace, found %d", len(c.namespaces))
		return problems
	}
	ns := c.namespaces[0]
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		bad("Namespace %s does not enforce the restricted Pod Security Standard", ns.Name)
	}
	for _, o := range c.namespaced {
		if o.GetNamespace() != ns.Name {
			bad("%s is in namespace %q, not the overlay's %q", o.GetName(), o.GetNamespace(), ns.Name)
		}
	}
	if len(c.deployments) == 0 {
		bad("the overlay has no Deployment")
		return problems
	}
	var ws []*workload
	for _, d := range c.deployments {
		w, p := c.checkDeployment(d, f, ex)
		for _, s := range p {
			bad("Deployment %s: %s", d.Name, s)
		}
		if w != nil {
			ws = append(ws, w)
		}
	}
	if len(ws) != len(c.deployments) {
		return problems
	}
	var calls []*workload
	for _, w := range ws {
		if w.takesCalls {
			calls = append(calls, w)
		}
	}
	if len(calls) == 0 {
		bad("no Deployment takes calls: every pod has IACE_TAKE_CALLS=false")
	}
	for _, cm := range c.configMaps {
		for _, name := range f.secretNames() {
			if _, ok := cm.Data[name]; ok {
				bad("secret %s is in ConfigMap %s: it belongs in a Secret", name, cm.Name)
			}
		}
	}
	// selectsPods: a selector of another object matches some Deployment's
	// pods.
	selectsPods := func(what string, ls *metav1.LabelSelector) []*workload {
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			bad("%s selector %v: %v", what, ls, err)
			return nil
		}
		matched := selected(ws, s)
		if len(matched) == 0 {
			bad("%s selector %v matches the pods of no Deployment", what, ls)
		}
		return matched
	}

	// Services select the pods of one role and target their named ports.
	for _, s := range c.services {
		matched := selected(ws, labels.SelectorFromSet(s.Spec.Selector))
		if len(matched) == 0 {
			bad("Service %s selector %v matches the pods of no Deployment", s.Name, s.Spec.Selector)
		}
		if slices.ContainsFunc(matched, func(w *workload) bool { return w.takesCalls }) &&
			slices.ContainsFunc(matched, func(w *workload) bool { return !w.takesCalls }) {
			bad("Service %s mixes pods that take calls with pods that refuse them: a media stream sent through it could be refused", s.Name)
		}
		for _, w := range matched {
			for _, sp := range s.Spec.Ports {
				cp := w.port(sp.TargetPort.String())
				if sp.TargetPort.Type == intstr.String && (cp == nil || cp.Protocol != sp.Protocol) {
					bad("Service %s port %s targets %q, no %s container port of Deployment %s", s.Name, sp.Name, sp.TargetPort.String(), sp.Protocol, w.d.Name)
				}
			}
		}
	}
	service := func(name string) *corev1.Service {
		for _, s := range c.services {
			if s.Name == name {
				return s
			}
		}
		return nil
	}
	var udpService bool
	for _, s := range c.services {
		for _, sp := range s.Spec.Ports {
			if sp.Protocol != corev1.ProtocolUDP || sp.TargetPort.String() != "webrtc" {
				continue
			}
			udpService = true
			for _, w := range selected(ws, labels.SelectorFromSet(s.Spec.Selector)) {
				if !w.takesCalls {
					bad("Service %s carries WebRTC media to Deployment %s, which holds no calls: a supervisor's audio flows from the pod holding the call", s.Name, w.d.Name)
				}
			}
		}
	}

	// Autoscalers: each scales one Deployment of the overlay, on live
	// calls (with CPU as the fallback) where the pods take calls, on CPU
	// where they do not.
	scaled := map[*workload]int{}
	for _, h := range c.hpas {
		ref := h.Spec.ScaleTargetRef
		i := slices.IndexFunc(ws, func(w *workload) bool { return w.d.Name == ref.Name })
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || i < 0 {
			bad("HPA %s scales %s %s %s, not the Deployment of the overlay", h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		w := ws[i]
		scaled[w]++
		if w.d.Spec.Replicas != nil {
			bad("Deployment %s sets replicas while HPA %s owns them: every apply would reset the scale", w.d.Name, h.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			bad("HPA %s: want minReplicas >= 2 (one pod drains while the other serves) and max >= min", h.Name)
		}
		var pods, cpu bool
		for _, m := range h.Spec.Metrics {
			switch {
			case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil:
				pods = true
				if !f.hasMetric(m.Pods.Metric.Name, "gauge") {
					bad("HPA %s scales on %s, which iace serve does not export as a gauge", h.Name, m.Pods.Metric.Name)
				}
				if m.Pods.Target.Type != autoscalingv2.AverageValueMetricType || m.Pods.Target.AverageValue == nil {
					bad("HPA %s: the live-calls target must be an average value per pod", h.Name)
				}
			case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU:
				cpu = true
			}
		}
		switch {
		case w.takesCalls && (!pods || !cpu):
			bad("HPA %s: want a Pods metric (live calls) and CPU as the fallback", h.Name)
		case !w.takesCalls && pods:
			bad("HPA %s scales Deployment %s on a per-pod metric, but its pods take no calls: scale it on CPU", h.Name, w.d.Name)
		case !w.takesCalls && !cpu:
			bad("HPA %s: want CPU for the API pods of Deployment %s", h.Name, w.d.Name)
		}
	}
	budgeted := map[*workload]int{}
	for _, p := range c.pdbs {
		for _, w := range selectsPods("PodDisruptionBudget "+p.Name, p.Spec.Selector) {
			budgeted[w]++
		}
	}

	// The Ingress: WebSockets kept for an hour, nothing onto the internal
	// listener, and the calls' media streams sent to pods that take them.
	for _, in := range c.ingresses {
		for _, a := range []string{"nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"} {
			if n, err := strconv.Atoi(in.Annotations[a]); err != nil || n < 3600 {
				bad("Ingress %s: %s %q: a WebSocket needs an hour, not the default minute", in.Name, a, in.Annotations[a])
			}
		}
		for _, r := range in.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				s := (*corev1.Service)(nil)
				if b != nil {
					s = service(b.Name)
				}
				if s == nil || !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
					return sp.Name == b.Port.Name || sp.Port == b.Port.Number
				}) {
					bad("Ingress %s: backend %v is not a port of a Service of the overlay", in.Name, b)
				} else if b.Port.Name == "metrics" || b.Port.Number == 9090 {
					bad("Ingress %s exposes the internal listener", in.Name)
				}
			}
			for _, path := range []string{"/media/telnyx", "/webhooks/telnyx", "/api/v1/calls", "/whep/calls/x", "/ui/"} {
				b := route(r.HTTP.Paths, path)
				if b == nil || b.Service == nil || service(b.Service.Name) == nil {
					bad("Ingress %s routes %s nowhere", in.Name, path)
					continue
				}
				if path != "/media/telnyx" {
					continue
				}
				for _, w := range selected(ws, labels.SelectorFromSet(service(b.Service.Name).Spec.Selector)) {
					if !w.takesCalls {
						bad("Ingress %s sends /media/telnyx to Service %s, whose Deployment %s takes no calls: every call's stream would be refused", in.Name, b.Service.Name, w.d.Name)
					}
				}
			}
		}
	}

	// Network policies: every port they open is the pods', and the pods
	// reach each other where a request is relayed to the pod holding a
	// call (WHEP/WHIP signalling).
	governed := map[*workload]bool{}
	for _, np := range c.policies {
		matched := selectsPods("NetworkPolicy "+np.Name, &np.Spec.PodSelector)
		for _, w := range matched {
			governed[w] = true
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			bad("NetworkPolicy %s must govern both Ingress and Egress", np.Name)
		}
		for _, r := range np.Spec.Ingress {
			for _, p := range r.Ports {
				for _, w := range matched {
					if p.Port != nil && p.Port.Type == intstr.String && w.port(p.Port.String()) == nil {
						bad("NetworkPolicy %s admits port %q, which the container of Deployment %s does not have", np.Name, p.Port.String(), w.d.Name)
					}
				}
				if p.Port != nil && p.Port.String() == "metrics" && len(r.From) == 0 {
					bad("NetworkPolicy %s opens the metrics port to everyone", np.Name)
				}
			}
		}
	}
	for _, from := range ws {
		for _, to := range calls {
			if from != to && !c.admits(ns, from, to, "http") {
				bad("the network policies block the relay from Deployment %s's pods to %s's port http: WHEP/WHIP requests for a call could not reach its pod", from.d.Name, to.d.Name)
			}
		}
		if len(c.deployments) == 1 && !c.admits(ns, from, from, "http") {
			bad("the network policies block the relay between Deployment %s's pods on port http", from.d.Name)
		}
	}

	// ServiceMonitors scrape every Deployment's metrics.
	scraped := map[*workload]bool{}
	for _, sm := range c.monitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			bad("ServiceMonitor %s has no selector", sm.Name)
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				bad("ServiceMonitor %s scrapes %q, not /metrics", sm.Name, ep.Path)
			}
			var found bool
			for _, s := range c.services {
				if sel.Matches(labels.Set(s.Labels)) && slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
					return sp.Name == ep.Port && sp.TargetPort.String() == "metrics"
				}) {
					found = true
					for _, w := range selected(ws, labels.SelectorFromSet(s.Spec.Selector)) {
						scraped[w] = true
					}
				}
			}
			if !found {
				bad("ServiceMonitor %s finds no Service with a port %q onto the container's metrics port", sm.Name, ep.Port)
			}
		}
	}

	if !ex.production {
		if len(ws) != 1 || ws[0].d.Spec.Replicas == nil || *ws[0].d.Spec.Replicas != 1 || len(c.hpas) != 0 {
			bad("the development overlay runs the embedded store: want exactly one Deployment of one replica and no autoscaler")
		}
		return problems
	}
	for what, n := range map[string]int{"Ingress": len(c.ingresses), "ServiceMonitor": len(c.monitors)} {
		if n != 1 {
			bad("want one %s, found %d", what, n)
		}
	}
	for _, w := range ws {
		if scaled[w] != 1 {
			bad("Deployment %s: want one HorizontalPodAutoscaler, found %d", w.d.Name, scaled[w])
		}
		if budgeted[w] != 1 {
			bad("Deployment %s: want one PodDisruptionBudget over its pods, found %d", w.d.Name, budgeted[w])
		}
		if !governed[w] {
			bad("Deployment %s: no NetworkPolicy governs its pods", w.d.Name)
		}
		if !scraped[w] && len(c.monitors) > 0 {
			bad("Deployment %s: no ServiceMonitor scrapes its pods", w.d.Name)
		}
	}
	if !udpService {
		bad("no Service carries the WebRTC UDP port")
	}
	if len(c.secrets) != 0 {
		bad("the overlay carries %d Secrets: production secrets are created outside the repository", len(c.secrets))
	}
	return problems
}

// checkDeployment returns what is wrong with one Deployment's pods: their
// security, resources, environment, ports, probes and drain.
func (c *cluster) checkDeployment(d *appsv1.Deployment, f serverFacts, ex expect) (*workload, []string) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	pod := d.Spec.Template
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
		bad("selector %v does not select its own pods %v", d.Spec.Selector, pod.Labels)
	}

	// Security: what the restricted Pod Security Standard asks, and more.
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		bad("pod securityContext: want runAsNonRoot and a non-zero runAsUser")
	}
	if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod securityContext: want seccompProfile RuntimeDefault")
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		bad("pod mounts a service account token it never uses")
	}
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		bad("pod shares the host's namespaces")
	}
	if len(pod.Spec.Containers) != 1 {
		bad("want one container, found %d", len(pod.Spec.Containers))
		return nil, problems
	}
	ctr := pod.Spec.Containers[0]
	if !pinned(ctr.Image) {
		bad("image %q is not pinned to a version tag or digest", ctr.Image)
	}
	if cs := ctr.SecurityContext; cs == nil {
		bad("container %s has no securityContext", ctr.Name)
	} else {
		if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
			bad("container %s: allowPrivilegeEscalation must be false", ctr.Name)
		}
		if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
			bad("container %s: want a read-only root filesystem", ctr.Name)
		}
		if cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") || len(cs.Capabilities.Add) > 0 {
			bad("container %s: want every capability dropped and none added", ctr.Name)
		}
		if cs.RunAsUser != nil && *cs.RunAsUser == 0 || cs.Privileged != nil && *cs.Privileged {
			bad("container %s runs as root or privileged", ctr.Name)
		}
	}

	// Resources: both requests and limits, requests within limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := ctr.Resources.Requests[r]
		lim, okLim := ctr.Resources.Limits[r]
		if !okReq || !okLim {
			bad("container %s: %s request and limit must both be set", ctr.Name, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			bad("container %s: %s request %s is above its limit %s", ctr.Name, r, req.String(), lim.String())
		}
	}

	// The environment: every IACE_ name is a setting of iace serve; every
	// secret comes from a Secret, never a literal or a ConfigMap.
	env, envProblems := c.environment(ctr)
	problems = append(problems, envProblems...)
	w := &workload{d: d, ctr: ctr, env: env, takesCalls: settingValue(env, f, "IACE_TAKE_CALLS") != "false"}
	for name := range env {
		if strings.HasPrefix(name, "IACE_") {
			if _, ok := f.lookup(name); !ok {
				bad("%s is not a setting of iace serve (iace serve -help)", name)
			}
		}
	}
	secretRefs := map[string][]string{} // Secret name -> keys
	for _, name := range f.secretNames() {
		v, ok := env[name]
		switch {
		case !ok:
			bad("secret %s is not provided: want a secretKeyRef", name)
		case v.from == nil || v.from.SecretKeyRef == nil:
			bad("secret %s does not come from a secretKeyRef", name)
		}
	}
	for _, e := range ctr.Env {
		ref := (*corev1.SecretKeySelector)(nil)
		if e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
		if ref == nil {
			continue
		}
		secretRefs[ref.Name] = append(secretRefs[ref.Name], ref.Key)
		optional := ref.Optional != nil && *ref.Optional
		if s := c.secret(ref.Name); s != nil {
			if _, ok := s.Data[ref.Key]; !ok && !optional {
				bad("Secret %s has no key %s, which %s requires", ref.Name, ref.Key, e.Name)
			}
		} else if ex.exampleSecrets != nil && !ex.exampleSecrets[ref.Key] {
			bad("secrets.env.example has no %s, which %s reads from Secret %s", ref.Key, e.Name, ref.Name)
		} else if ex.exampleSecrets == nil {
			bad("Secret %s, which %s reads, is neither in the overlay nor in a secrets.env.example", ref.Name, e.Name)
		}
	}
	if len(secretRefs) != 1 {
		bad("want every secret in one Secret, found references to %d", len(secretRefs))
	}
	if v, ok := env["GOMEMLIMIT"]; !ok || v.from == nil || v.from.ResourceFieldRef == nil ||
		v.from.ResourceFieldRef.Resource != "limits.memory" ||
		(v.from.ResourceFieldRef.ContainerName != "" && v.from.ResourceFieldRef.ContainerName != ctr.Name) {
		bad("GOMEMLIMIT must come from the container's limits.memory (downward API resourceFieldRef)")
	}
	// A node that takes no calls needs the others (iace serve refuses to
	// start otherwise): they share Redis.
	if !w.takesCalls {
		if v, ok := env["IACE_REDIS_URL"]; !ok || v.value == "" && v.from == nil ||
			v.from != nil && v.from.SecretKeyRef != nil && v.from.SecretKeyRef.Optional != nil && *v.from.SecretKeyRef.Optional {
			bad("IACE_TAKE_CALLS=false needs IACE_REDIS_URL, required: the pods that take the calls are found through Redis")
		}
	}

	// Ports: the container's are the server's listeners.
	listen := func(setting, portName string, proto corev1.Protocol) {
		addr := settingValue(env, f, setting)
		port := addr
		if setting != "IACE_WEBRTC_UDP_PORT" {
			host, p, err := net.SplitHostPort(addr)
			if err != nil {
				bad("%s %q: %v", setting, addr, err)
				return
			}
			if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
				bad("%s %q listens on loopback: nothing outside the pod reaches it", setting, addr)
			}
			port = p
		}
		cp := w.port(portName)
		if cp == nil || strconv.Itoa(int(cp.ContainerPort)) != port || cp.Protocol != proto {
			bad("container port %q must be %s/%s (%s=%q)", portName, port, proto, setting, addr)
		}
	}
	listen("IACE_ADDR", "http", corev1.ProtocolTCP)
	listen("IACE_INTERNAL_ADDR", "metrics", corev1.ProtocolTCP)
	listen("IACE_WEBRTC_UDP_PORT", "webrtc", corev1.ProtocolUDP)

	// Probes: readiness on /readyz and liveness on /healthz, on the internal
	// listener, where the server answers them.
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			bad("%s probe: want an HTTP GET of %s", what, path)
			return
		}
		if p.HTTPGet.Path != path || !refersTo(p.HTTPGet.Port, w.port("metrics")) {
			bad("%s probe asks %s on port %s: want %s on the internal listener (port metrics)", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
		if f.probes[path] != 200 {
			bad("%s probe path %s: a running iace serve answers %d", what, path, f.probes[path])
		}
	}
	probe("readiness", ctr.ReadinessProbe, "/readyz")
	probe("liveness", ctr.LivenessProbe, "/healthz")
	if ctr.StartupProbe != nil {
		probe("startup", ctr.StartupProbe, "/healthz")
	}

	// The drain: the grace period covers the preStop pause and the drain
	// deadline (--drain-timeout), with room to write the last records.
	drain, err := time.ParseDuration(settingValue(env, f, "IACE_DRAIN_TIMEOUT"))
	if err != nil {
		bad("IACE_DRAIN_TIMEOUT: %v", err)
	}
	var pause time.Duration
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil {
		bad("no preStop: SIGTERM would come while the load balancers still send new calls")
	} else if s := ctr.Lifecycle.PreStop.Sleep; s != nil {
		pause = time.Duration(s.Seconds) * time.Second
	}
	grace := time.Duration(0)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < pause+drain+afterDrain {
		bad("terminationGracePeriodSeconds %v is shorter than the preStop pause %v, the drain timeout %v and the shutdown after it %v: the kubelet would kill the server mid-drain", grace, pause, drain, afterDrain)
	}

	// A read-only root: the data directory must be a volume.
	dataDir := settingValue(env, f, "IACE_DATA_DIR")
	if !filepath.IsAbs(dataDir) || !slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
		return (dataDir == m.MountPath || strings.HasPrefix(dataDir, m.MountPath+"/")) && !m.ReadOnly
	}) {
		bad("IACE_DATA_DIR %q is not on a writable volume (the root filesystem is read-only)", dataDir)
	}

	if ex.production {
		for _, name := range []string{"IACE_UNAUTHENTICATED_STREAMS", "IACE_PPROF"} {
			if settingValue(env, f, name) == "true" {
				bad("%s=true: a development switch in production", name)
			}
		}
		for _, name := range []string{"IACE_DATABASE_URL", "IACE_REDIS_URL", "IACE_AUTH_SECRET", "IACE_STREAM_SECRET"} {
			if v := env[name]; v.from != nil && v.from.SecretKeyRef != nil && v.from.SecretKeyRef.Optional != nil && *v.from.SecretKeyRef.Optional {
				bad("%s is optional: pods must share the store and the signing keys", name)
			}
		}
	}
	return w, problems
}

// route is the backend an Ingress rule's paths give a request path: an
// Exact match first, then the longest Prefix match by path elements (the
// Ingress API's rules; ImplementationSpecific is taken as Prefix).
func route(paths []networkingv1.HTTPIngressPath, path string) *networkingv1.IngressBackend {
	var best *networkingv1.IngressBackend
	bestLen := -1
	for i, p := range paths {
		exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
		if exact {
			if p.Path == path {
				return &paths[i].Backend
			}
			continue
		}
		prefix := strings.TrimSuffix(p.Path, "/")
		if (path == prefix || prefix == "" || strings.HasPrefix(path, prefix+"/")) && len(prefix) > bestLen {
			best, bestLen = &paths[i].Backend, len(prefix)
		}
	}
	return best
}

// admits says whether the overlay's network policies let from's pods open
// a TCP connection to the named port of to's pods, as Kubernetes evaluates
// them: a direction no policy governs is open; a governed one is open when
// any rule of any policy over the pods allows it.
func (c *cluster) admits(ns *corev1.Namespace, from, to *workload, portName string) bool {
	cp := to.port(portName)
	if cp == nil {
		return false
	}
	peer := func(peers []networkingv1.NetworkPolicyPeer, pod labels.Set) bool {
		if len(peers) == 0 {
			return true
		}
		for _, p := range peers {
			if p.IPBlock != nil {
				continue // pod addresses are not known here
			}
			if p.NamespaceSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
				if err != nil || !s.Matches(labels.Set(ns.Labels)) {
					continue
				}
			}
			if p.PodSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(p.PodSelector)
				if err != nil || !s.Matches(pod) {
					continue
				}
			}
			return true
		}
		return false
	}
	port := func(ports []networkingv1.NetworkPolicyPort) bool {
		if len(ports) == 0 {
			return true
		}
		for _, p := range ports {
			if p.Protocol != nil && *p.Protocol != cp.Protocol {
				continue
			}
			switch {
			case p.Port == nil:
				return true
			case p.Port.Type == intstr.String && p.Port.StrVal == cp.Name:
				return true
			case p.Port.Type == intstr.Int && p.EndPort == nil && p.Port.IntVal == cp.ContainerPort:
				return true
			case p.Port.Type == intstr.Int && p.EndPort != nil && p.Port.IntVal <= cp.ContainerPort && cp.ContainerPort <= *p.EndPort:
				return true
			}
		}
		return false
	}
	direction := func(pod labels.Set, typ networkingv1.PolicyType, allows func(np *networkingv1.NetworkPolicy) bool) bool {
		governed := false
		for _, np := range c.policies {
			s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || !s.Matches(pod) || !slices.Contains(np.Spec.PolicyTypes, typ) {
				continue
			}
			governed = true
			if allows(np) {
				return true
			}
		}
		return !governed
	}
	in := direction(to.labels(), networkingv1.PolicyTypeIngress, func(np *networkingv1.NetworkPolicy) bool {
		return slices.ContainsFunc(np.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
			return peer(r.From, from.labels()) && port(r.Ports)
		})
	})
	out := direction(from.labels(), networkingv1.PolicyTypeEgress, func(np *networkingv1.NetworkPolicy) bool {
		return slices.ContainsFunc(np.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
			return peer(r.To, to.labels()) && port(r.Ports)
		})
	})
	return in && out
}

// afterDrain bounds what iace serve does between the drain deadline and its
// exit: closing the listeners, flushing the call records and the traces,
// 5 s at most each (cmd/iace/serve.go, telemetry.go).
const afterDrain = 15 * time.Second

// refersTo: a probe's port is the named container port, by name or number.
func refersTo(p intstr.IntOrString, cp *corev1.ContainerPort) bool {
	if cp == nil {
		return false
	}
	if p.Type == intstr.String {
		return p.StrVal == cp.Name
	}
	return p.IntVal == cp.ContainerPort
}

func productionExpect(t *testing.T) expect {
	t.Helper()
	keys, err := secretKeys(filepath.Join(overlayDir(t, "production"), "secrets.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	return expect{production: true, exampleSecrets: keys}
}

func TestKubernetesProductionOverlay(t *testing.T) {
	c := buildOverlay(t, "production")
	for _, p := range c.check(server(t), productionExpect(t)) {
		t.Error(p)
	}
}

// TestKubernetesProductionWithoutTheAPIApart: the production overlay with
// its components: lines removed, as its comment tells, is one Deployment
// that serves everything, and passes the same checks.
func TestKubernetesProductionWithoutTheAPIApart(t *testing.T) {
	root := filepath.Join(repositoryRoot(t), "deploy", "kubernetes")
	fs := filesys.MakeFsInMemory()
	tree := os.DirFS(root)
	err := iofs.WalkDir(tree, ".", func(path string, e iofs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := iofs.ReadFile(tree, path)
		if err != nil {
			return err
		}
		return fs.WriteFile(filepath.Join(root, path), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	kust := filepath.Join(overlayDir(t, "production"), "kustomization.yaml")
	b, err := fs.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	const component = "components:\n  - ../../components/api-apart\n"
	if !strings.Contains(string(b), component) {
		t.Fatalf("%s does not include the component as %q", kust, component)
	}
	if err := fs.WriteFile(kust, []byte(strings.Replace(string(b), component, "", 1))); err != nil {
		t.Fatal(err)
	}
	c := buildOverlayIn(t, fs, overlayDir(t, "production"), "production")
	if len(c.deployments) != 1 {
		t.Fatalf("want one Deployment without the component, found %d", len(c.deployments))
	}
	for _, p := range c.check(server(t), productionExpect(t)) {
		t.Error(p)
	}
}

func TestKubernetesDevOverlay(t *testing.T) {
	c := buildOverlay(t, "dev")
	for _, p := range c.check(server(t), expect{}) {
		t.Error(p)
	}
	// Its Secret is development placeholders: empty values (unset).
	for _, s := range c.secrets {
		for k, v := range s.Data {
			if len(v) != 0 {
				t.Errorf("Secret %s of the dev overlay has a value for %s: commit no secret", s.Name, k)
			}
		}
	}
}

// TestSecretsExampleHoldsOnlyPlaceholders: the example the operator copies
// carries no value that could be a real secret.
func TestSecretsExampleHoldsOnlyPlaceholders(t *testing.T) {
	path := filepath.Join(overlayDir(t, "production"), "secrets.env.example")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if v != "" && !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("%s: %s has a value that is not an obvious placeholder", path, k)
		}
	}
}

// TestKubernetesChecksCatchMistakes breaks the production overlay's objects
// in the ways the checks are there for, one at a time: each is reported.
func TestKubernetesChecksCatchMistakes(t *testing.T) {
	f := server(t)
	ex := productionExpect(t)
	if p := buildOverlay(t, "production").check(f, ex); len(p) > 0 {
		t.Fatalf("the overlay itself fails: %v", p)
	}
	calls := func(c *cluster) *appsv1.Deployment { return byName(t, c.deployments, "iace") }
	ctr := func(c *cluster) *corev1.Container { return &calls(c).Spec.Template.Spec.Containers[0] }
	env := func(c *cluster, name string) *corev1.EnvVar {
		for i, e := range ctr(c).Env {
			if e.Name == name {
				return &ctr(c).Env[i]
			}
		}
		t.Fatalf("no env %s", name)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *cluster)
		want   string
	}{
		{"grace shorter than the drain", func(c *cluster) {
			g := int64(60)
			calls(c).Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "terminationGracePeriodSeconds"},
		{"a longer drain in the ConfigMap", func(c *cluster) { c.configMaps[0].Data["IACE_DRAIN_TIMEOUT"] = "10m" }, "terminationGracePeriodSeconds"},
		{"no preStop", func(c *cluster) { ctr(c).Lifecycle = nil }, "preStop"},
		{"no time to flush after the drain", func(c *cluster) {
			g := int64(5 + 300 + 5)
			calls(c).Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "shutdown after it"},
		{"unauthenticated streams", func(c *cluster) { c.configMaps[0].Data["IACE_UNAUTHENTICATED_STREAMS"] = "true" }, "development switch"},
		{"readiness on /healthz", func(c *cluster) { ctr(c).ReadinessProbe.HTTPGet.Path = "/healthz" }, "readiness"},
		{"liveness on the public port", func(c *cluster) { ctr(c).LivenessProbe.HTTPGet.Port = intstr.FromString("http") }, "liveness"},
		{"a secret as a literal", func(c *cluster) {
			e := env(c, "IACE_AUTH_SECRET")
			e.ValueFrom, e.Value = nil, "x"
		}, "IACE_AUTH_SECRET does not come from a secretKeyRef"},
		{"a secret in the ConfigMap", func(c *cluster) { c.configMaps[0].Data["IACE_LLM_API_KEY"] = "x" }, "ConfigMap"},
		{"a secret left out", func(c *cluster) {
			ctr(c).Env = slices.DeleteFunc(ctr(c).Env, func(e corev1.EnvVar) bool { return e.Name == "IACE_TURN_PASSWORD" })
		}, "IACE_TURN_PASSWORD is not provided"},
		{"a key missing from the example", func(c *cluster) { env(c, "IACE_REDIS_URL").ValueFrom.SecretKeyRef.Key = "REDIS" }, "secrets.env.example has no REDIS"},
		{"the database optional", func(c *cluster) {
			yes := true
			env(c, "IACE_DATABASE_URL").ValueFrom.SecretKeyRef.Optional = &yes
		}, "optional"},
		{"a setting iace does not have", func(c *cluster) { c.configMaps[0].Data["IACE_DRAIN"] = "1m" }, "IACE_DRAIN is not a setting"},
		{"root", func(c *cluster) {
			root := int64(0)
			calls(c).Spec.Template.Spec.SecurityContext.RunAsUser = &root
		}, "runAsUser"},
		{"a writable root", func(c *cluster) {
			no := false
			ctr(c).SecurityContext.ReadOnlyRootFilesystem = &no
		}, "read-only"},
		{"capabilities kept", func(c *cluster) { ctr(c).SecurityContext.Capabilities.Drop = nil }, "capability"},
		{"no memory limit", func(c *cluster) { delete(ctr(c).Resources.Limits, corev1.ResourceMemory) }, "memory request and limit"},
		{"GOMEMLIMIT fixed", func(c *cluster) {
			e := env(c, "GOMEMLIMIT")
			e.ValueFrom, e.Value = nil, "400MiB"
		}, "GOMEMLIMIT"},
		{"metrics port moved", func(c *cluster) { c.configMaps[0].Data["IACE_INTERNAL_ADDR"] = ":9100" }, "metrics"},
		{"internal listener on loopback", func(c *cluster) { c.configMaps[0].Data["IACE_INTERNAL_ADDR"] = "127.0.0.1:9090" }, "loopback"},
		{"data on the root filesystem", func(c *cluster) { c.configMaps[0].Data["IACE_DATA_DIR"] = "/data" }, "IACE_DATA_DIR"},
		{"HPA on another Deployment", func(c *cluster) { byName(t, c.hpas, "iace").Spec.ScaleTargetRef.Name = "other" }, "not the Deployment"},
		{"HPA on a metric iace lacks", func(c *cluster) { byName(t, c.hpas, "iace").Spec.Metrics[0].Pods.Metric.Name = "iace_calls_live" }, "does not export"},
		{"HPA without CPU", func(c *cluster) { byName(t, c.hpas, "iace").Spec.Metrics = byName(t, c.hpas, "iace").Spec.Metrics[:1] }, "fallback"},
		{"replicas fixed under an HPA", func(c *cluster) {
			n := int32(3)
			calls(c).Spec.Replicas = &n
		}, "owns them"},
		{"PDB selecting nothing", func(c *cluster) {
			byName(t, c.pdbs, "iace").Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": "other"}
		}, "PodDisruptionBudget"},
		{"Service selecting nothing", func(c *cluster) { byName(t, c.services, "iace").Spec.Selector = map[string]string{"app": "other"} }, "selector"},
		{"Service onto a missing port", func(c *cluster) { byName(t, c.services, "iace").Spec.Ports[0].TargetPort = intstr.FromString("web") }, "targets"},
		{"Ingress timeout a minute", func(c *cluster) {
			byName(t, c.ingresses, "iace").Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "60"
		}, "proxy-read-timeout"},
		{"Ingress onto metrics", func(c *cluster) {
			byName(t, c.ingresses, "iace").Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Name = "metrics"
		}, "internal listener"},
		{"metrics open to all", func(c *cluster) { byName(t, c.policies, "iace").Spec.Ingress[1].From = nil }, "metrics port to everyone"},
		{"ServiceMonitor on a missing port", func(c *cluster) { byName(t, c.monitors, "iace").Spec.Endpoints[0].Port = "prom" }, "ServiceMonitor"},
		{"image latest", func(c *cluster) { ctr(c).Image = "ghcr.io/iace/iace:latest" }, "pinned"},
		{"no UDP Service", func(c *cluster) {
			c.services = slices.DeleteFunc(c.services, func(s *corev1.Service) bool { return s.Name == "iace-webrtc" })
		}, "WebRTC"},
		// The API apart from the calls (components/api-apart).
		{"media streams sent to the API pods", func(c *cluster) {
			for i, p := range byName(t, c.ingresses, "iace").Spec.Rules[0].HTTP.Paths {
				if p.Path == "/media/telnyx" {
					byName(t, c.ingresses, "iace").Spec.Rules[0].HTTP.Paths[i].Backend.Service.Name = "iace-api"
				}
			}
		}, "every call's stream would be refused"},
		{"no path of its own for the media streams", func(c *cluster) {
			in := byName(t, c.ingresses, "iace")
			in.Spec.Rules[0].HTTP.Paths = slices.DeleteFunc(in.Spec.Rules[0].HTTP.Paths, func(p networkingv1.HTTPIngressPath) bool { return p.Path == "/media/telnyx" })
		}, "every call's stream would be refused"},
		{"one Service over both sets of pods", func(c *cluster) {
			delete(byName(t, c.services, "iace").Spec.Selector, "app.kubernetes.io/component")
		}, "mixes pods"},
		{"supervisors' audio to the API pods", func(c *cluster) {
			byName(t, c.services, "iace-webrtc").Spec.Selector["app.kubernetes.io/component"] = "api"
		}, "holds no calls"},
		{"API pods without Redis", func(c *cluster) {
			d := byName(t, c.deployments, "iace-api")
			d.Spec.Template.Spec.Containers[0].Env = slices.DeleteFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "IACE_REDIS_URL" })
		}, "IACE_TAKE_CALLS=false needs IACE_REDIS_URL"},
		{"API pods scaled on live calls", func(c *cluster) {
			h := byName(t, c.hpas, "iace-api")
			h.Spec.Metrics = append(h.Spec.Metrics, byName(t, c.hpas, "iace").Spec.Metrics[0])
		}, "take no calls"},
		{"API pods without an autoscaler", func(c *cluster) {
			c.hpas = slices.DeleteFunc(c.hpas, func(h *autoscalingv2.HorizontalPodAutoscaler) bool { return h.Name == "iace-api" })
		}, "Deployment iace-api: want one HorizontalPodAutoscaler"},
		{"API pods unscraped", func(c *cluster) {
			byName(t, c.monitors, "iace").Spec.Selector = metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "server"}}
		}, "no ServiceMonitor scrapes"},
		{"the relay to the call pods blocked", func(c *cluster) {
			byName(t, c.policies, "iace").Spec.Ingress[3].From[0].PodSelector.MatchLabels["app.kubernetes.io/component"] = "server"
		}, "block the relay from Deployment iace-api"},
		{"no way out to the call pods", func(c *cluster) {
			byName(t, c.policies, "iace-api").Spec.Egress[0].Ports[0].Port = ptr(intstr.FromInt32(9090))
		}, "block the relay from Deployment iace-api"},
		{"nothing takes calls", func(c *cluster) { c.configMaps[0].Data["IACE_TAKE_CALLS"] = "false" }, "no Deployment takes calls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := buildOverlay(t, "production")
			tc.mutate(c)
			p := c.check(f, ex)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("want a problem mentioning %q, got %q", tc.want, p)
			}
		})
	}
}

// byName finds an object of an overlay by its name.
func byName[T metav1.Object](t *testing.T, objs []T, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the overlay has no %T named %s", *new(T), name)
	return *new(T)
}

func ptr[T any](v T) *T { return &v }

// TestPrometheusAdapterServesTheHPAMetric: the adapter rule turns the
// gauge the HPA names into a per-pod custom metric.
func TestPrometheusAdapterServesTheHPAMetric(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repositoryRoot(t), "deploy", "kubernetes", "prometheus-adapter", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Prometheus struct {
			URL  string `json:"url"`
			Port int    `json:"port"`
		} `json:"prometheus"`
		Rules struct {
			Default bool `json:"default"`
			Custom  []struct {
				SeriesQuery string `json:"seriesQuery"`
				Resources   struct {
					Overrides map[string]struct {
						Resource string `json:"resource"`
					} `json:"overrides"`
				} `json:"resources"`
				Name struct {
					Matches string `json:"matches"`
					As      string `json:"as"`
				} `json:"name"`
				MetricsQuery string `json:"metricsQuery"`
			} `json:"custom"`
		} `json:"rules"`
	}
	if err := yaml.UnmarshalStrict(b, &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	c := buildOverlay(t, "production")
	var metric string
	for _, h := range c.hpas {
		for _, m := range h.Spec.Metrics {
			if m.Pods != nil {
				metric = m.Pods.Metric.Name
			}
		}
	}
	f := server(t)
	var served bool
	for _, r := range values.Rules.Custom {
		if r.Name.As != metric {
			continue
		}
		served = true
		series, _, _ := strings.Cut(r.SeriesQuery, "{")
		if !f.hasMetric(series, "gauge") {
			t.Errorf("the rule reads %s, which iace serve does not export as a gauge", series)
		}
		if r.Resources.Overrides["pod"].Resource != "pod" || r.Resources.Overrides["namespace"].Resource != "namespace" {
			t.Errorf("the rule must map the pod and namespace labels to their resources: %v", r.Resources.Overrides)
		}
		for _, part := range []string{"<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"} {
			if !strings.Contains(r.MetricsQuery, part) {
				t.Errorf("metricsQuery %q lacks %s", r.MetricsQuery, part)
			}
		}
	}
	if !served {
		t.Errorf("no adapter rule serves %q, the HPA's Pods metric", metric)
	}
	if values.Prometheus.URL == "" || values.Prometheus.Port == 0 {
		t.Error("values.yaml does not say where Prometheus is")
	}
}
