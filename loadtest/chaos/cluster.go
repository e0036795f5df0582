package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// node is one `iace serve` process of the cluster.
type node struct {
	name     string
	public   string // host:port of the public listener
	internal string // host:port of /readyz and /metrics
	dataDir  string
	args     []string
	env      []string
	logPath  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
	starts  int
}

// start runs the node's process (again, after it exited), its output
// appended to its log. The process gets SIGTERM when ctx ends.
func (n *node) start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.done:
		default:
			return fmt.Errorf("%s is running", n.name)
		}
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, n.args[0], n.args[1:]...) //nolint:gosec // G204: the iace binary the suite was given, with the suite's own flags
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.cmd, n.done, n.waitErr = cmd, make(chan struct{}), nil
	n.starts++
	done := n.done
	go func() { // ends when the process exits
		err := cmd.Wait()
		_ = logf.Close()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// running reports whether the process is up.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process, if it runs.
func (n *node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return fmt.Errorf("%s is not running", n.name)
	}
	return n.cmd.Process.Signal(sig)
}

// wait waits up to d for the process to exit.
func (n *node) wait(d time.Duration) error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s did not exit within %v", n.name, d)
	}
}

// stop ends the process: SIGTERM (a drain of up to the drain timeout), then
// SIGKILL if it is still there after d.
func (n *node) stop(d time.Duration) {
	if !n.running() {
		return
	}
	_ = n.signal(syscall.SIGTERM)
	if n.wait(d) != nil {
		_ = n.signal(syscall.SIGKILL)
		_ = n.wait(5 * time.Second)
	}
}

// waitReady polls /readyz until it answers 200, the process exits, or d
// passes.
func (n *node) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if httpOK(ctx, "http://"+n.internal+"/readyz") {
			return nil
		}
		if !n.running() {
			return fmt.Errorf("%s exited before it was ready (see %s)", n.name, n.logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v (see %s)", n.name, d, n.logPath)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// httpOK reports whether GET u answers 200 within a second.
func httpOK(ctx context.Context, u string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil) //nolint:gosec // G704: a node's internal listener, which the suite chose
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// metrics reads the node's Prometheus text and returns the samples whose
// name (with labels, as written) starts with one of prefixes.
func (n *node) metrics(ctx context.Context, prefixes ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.internal+"/metrics", nil) //nolint:gosec // G704: the node's internal listener, which the suite chose
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req) //nolint:gosec // G704: as above
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: %s", n.name, res.Status)
	}
	return parseMetrics(res.Body, prefixes...)
}

// parseMetrics reads Prometheus text exposition: "name{labels} value".
func parseMetrics(r io.Reader, prefixes ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		match := len(prefixes) == 0
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sumMetric adds the samples of name (any labels) from several nodes'
// metrics.
func sumMetric(ms []map[string]float64, name string) float64 {
	var s float64
	for _, m := range ms {
		for k, v := range m {
			if k == name || strings.HasPrefix(k, name+"{") {
				s += v
			}
		}
	}
	return s
}

// lbProc is the load balancer process (loadtest/lb).
type lbProc struct {
	cmd       *exec.Cmd
	addr      string
	statsPath string
	out       *os.File
	done      chan struct{}
}

func startLB(ctx context.Context, bin, addr string, nodes []*node, dir string) (*lbProc, error) {
	pub, ready := make([]string, 0, len(nodes)), make([]string, 0, len(nodes))
	for _, n := range nodes {
		pub = append(pub, n.public)
		ready = append(ready, n.internal)
	}
	out, err := os.Create(filepath.Join(dir, "lb.txt")) //nolint:gosec // G703: in the report directory the operator chose
	if err != nil {
		return nil, err
	}
	l := &lbProc{addr: addr, statsPath: filepath.Join(dir, "lb.json"), out: out, done: make(chan struct{})}
	l.cmd = exec.CommandContext(ctx, bin, "-listen", addr, "-backends", strings.Join(pub, ","), //nolint:gosec // G204: the suite's own lb binary and flags
		"-ready", strings.Join(ready, ","), "-stats", l.statsPath)
	l.cmd.Cancel = func() error { return l.cmd.Process.Signal(syscall.SIGTERM) }
	l.cmd.Stdout, l.cmd.Stderr = out, out
	if err := l.cmd.Start(); err != nil {
		_ = out.Close()
		return nil, err
	}
	go func() { // ends when the process exits
		_ = l.cmd.Wait()
		close(l.done)
	}()
	return l, nil
}

// stop ends the load balancer, which writes its counts, and returns them.
func (l *lbProc) stop() (lbStats, error) {
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.done
	}
	_ = l.out.Close()
	return readLBStats(l.statsPath)
}

// shell runs a command line of the suite's configuration (how this machine
// stops and starts Redis and PostgreSQL) with sh -c.
func shell(ctx context.Context, line string, out io.Writer) error {
	if strings.TrimSpace(line) == "" {
		return errors.New("no command configured")
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line) //nolint:gosec // G204: a command line the operator gave the suite (-redis-stop and the like)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%q: %w", line, err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
