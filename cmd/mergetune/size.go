package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize reads a byte count with mergekit's k/m/b suffixes (powers of
// 1000, case-insensitive), e.g. "5B" = 5e9, "500M", "1000000".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "b"):
		mult, t = 1e9, strings.TrimSuffix(t, "b")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid size %q (want a positive number of bytes, optionally with k, m or b)", s)
	}
	return int64(v * mult), nil
}

// humanBytes formats a byte count with a decimal unit (kB, MB, GB).
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
