package openlineage_test

import (
	"os"
	"strconv"
)

func init() {
	if v, err := strconv.Atoi(os.Getenv("PROV_BENCH_EVENTS")); err == nil && v > 0 {
		benchN = v
	}
}
