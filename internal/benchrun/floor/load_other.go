//go:build !linux

package floor

import (
	"context"
	"errors"
)

// RunLoad needs epoll: the floor's load runs on Linux only.
func RunLoad(ctx context.Context, cfg LoadConfig) (LoadSummary, error) {
	return LoadSummary{}, errors.New("floor: the load generator needs Linux (epoll)")
}
