// Package telemetry registers IACE's Prometheus collectors. It stands on
// the media floor, importing none of IACE's packages, so that every layer
// (media, store, ai, session, control) registers its series the same way.
package telemetry

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns the collector the registry now
// holds for c's description. When a collector of the same description
// (names, labels and help) is already registered, as when two clients,
// two caches or two servers of one test process share a registry, that
// collector is returned and c is dropped, so every user counts on one set
// of series. A true conflict (the same name with other labels, help or
// type, or a collector of another Go type) is an error. A nil reg
// registers nothing and returns c.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
		return c, fmt.Errorf("telemetry: %w: registered as a %T", err, are.ExistingCollector)
	}
	return c, fmt.Errorf("telemetry: %w", err)
}

// MustRegister is Register for the constructors that cannot fail: a true
// conflict is a programming error (two subsystems claiming one name), found
// by the first test that builds both, and it panics.
func MustRegister[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := Register(reg, c)
	if err != nil {
		panic(err)
	}
	return c
}
