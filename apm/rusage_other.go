//go:build !unix

package apm

import "time"

// processCPU is unknown here; cpu_percent stays 0.
func processCPU() time.Duration { return 0 }
