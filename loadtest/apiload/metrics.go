package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// cacheCounters are the server's agent cache counters (store/cache:
// iace_cache_hits_total and iace_cache_misses_total, cache="agent").
type cacheCounters struct {
	localHits, localMisses, redisHits float64
}

// cacheDelta is the agent cache over a run. Every read asks the local
// layer first, so reads are its hits plus misses; a local miss is answered
// by Redis or, failing that, the database.
type cacheDelta struct {
	Reads     int64   `json:"reads"`
	LocalHits int64   `json:"local_hits"`
	RedisHits int64   `json:"redis_hits"`
	HitRate   float64 `json:"hit_rate"`
}

func (c cacheCounters) minus(before cacheCounters) cacheDelta {
	d := cacheDelta{
		LocalHits: int64(c.localHits - before.localHits),
		RedisHits: int64(c.redisHits - before.redisHits),
	}
	d.Reads = d.LocalHits + int64(c.localMisses-before.localMisses)
	if d.Reads > 0 {
		d.HitRate = float64(d.LocalHits+d.RedisHits) / float64(d.Reads)
	}
	return d
}

// scrapeCache reads the agent cache counters from a Prometheus text
// exposition at url.
func scrapeCache(ctx context.Context, client *http.Client, url string) (cacheCounters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return cacheCounters{}, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return cacheCounters{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return cacheCounters{}, fmt.Errorf("scrape %s: status %d", url, resp.StatusCode)
	}
	return parseCache(io.LimitReader(resp.Body, 16<<20))
}

// parseCache picks the agent cache counters out of the text format.
func parseCache(r io.Reader) (cacheCounters, error) {
	var c cacheCounters
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "iace_cache_") {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok || labels["cache"] != "agent" {
			continue
		}
		switch {
		case name == "iace_cache_hits_total" && labels["layer"] == "local":
			c.localHits, found = value, true
		case name == "iace_cache_hits_total" && labels["layer"] == "redis":
			c.redisHits = value
		case name == "iace_cache_misses_total" && labels["layer"] == "local":
			c.localMisses = value
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !found {
		return c, fmt.Errorf("no iace_cache_hits_total{cache=\"agent\"} in the metrics")
	}
	return c, nil
}

// parseSample parses `name{k="v",...} value [timestamp]`.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	labels = map[string]string{}
	var rest string
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], strings.TrimSpace(line[j+1:])
		for _, kv := range strings.Split(line[i+1:j], ",") {
			k, v, found := strings.Cut(kv, "=")
			if found {
				labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	} else {
		var found bool
		name, rest, found = strings.Cut(line, " ")
		if !found {
			return "", nil, 0, false
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return name, labels, v, err == nil
}
