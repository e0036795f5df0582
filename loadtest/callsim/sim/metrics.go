package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ScrapeMetrics fetches a Prometheus text exposition from url (the server's
// /metrics) and returns its sample lines for metrics named iace_*.
func ScrapeMetrics(ctx context.Context, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("callsim: metrics: %w", err)
	}
	// No proxy from the environment and no redirects: only url is contacted.
	client := &http.Client{
		Transport:     &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("callsim: metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("callsim: metrics: %s: HTTP %s", url, resp.Status)
	}
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "iace_") {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return lines, fmt.Errorf("callsim: metrics: %w", err)
	}
	return lines, nil
}
