//go:build tools

// Package tools pins the metrics-server command that this nested module builds.
// It has its own module so that its k8s.io/* line does not touch the control
// plane's module graph (and the control plane's cache key).
package tools

import (
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
