//go:build tools

// Package tools pins the kwok command that this nested module builds. kwok has
// its own module because it follows a newer k8s.io/* line than the control plane.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
