package cluster

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrNodeNotFound is AddrOf's answer for a node that is not in the
// cluster (it never was, it left, or it was lost and forgotten), or that
// published no address.
var ErrNodeNotFound = errors.New("cluster: no such node")

// AddrOf is where the other nodes reach the public listener of the node
// named node (its --node-addr, as its heartbeat published it). This
// node's own name gives its own address, without Redis; any other name
// without Redis, or one Redis does not know, is ErrNodeNotFound. A failed
// look-up is ErrUnreachable.
func (n *Node) AddrOf(ctx context.Context, node string) (string, error) {
	if node == n.cfg.Node {
		if a := n.addr(); a != "" {
			return a, nil
		}
		return "", ErrNodeNotFound
	}
	if n.rdb == nil || node == "" {
		return "", ErrNodeNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CommandTimeout)
	defer cancel()
	addr, err := n.rdb.HGet(ctx, n.key("node", node), "addr").Result()
	switch {
	case errors.Is(err, redis.Nil) || err == nil && addr == "":
		return "", ErrNodeNotFound
	case err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE"):
		// The name, which may come from a request, led to a key that is
		// not a node's hash (it holds a ':'): no node of that name.
		return "", ErrNodeNotFound
	case err != nil:
		n.metrics.redisErrors.WithLabelValues("lookup").Inc()
		return "", errors.Join(ErrUnreachable, err)
	}
	return addr, nil
}
