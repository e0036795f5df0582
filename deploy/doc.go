// Package deploy holds the tests that check what IACE ships for operators:
// the container image, the compose stack, the Kubernetes manifests, the
// Grafana dashboards and the Prometheus alert rules. It is a module of its
// own so that the validators it needs never reach the server's build.
package deploy
