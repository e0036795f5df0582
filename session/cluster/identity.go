package cluster

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// IdentityPath is where a node says which node it is, on the listener
// whose address it publishes (--node-addr): a node that judges whether a
// lost node is still alive asks whoever answers at its address, so that
// a new pod given the dead one's address is not taken for it. The answer
// is the node's name, which its WebRTC session ids carry already.
const IdentityPath = "/cluster/node"

// identity is IdentityPath's answer.
type identity struct {
	Node string `json:"node"`
}

// maxIdentity bounds the answer read.
const maxIdentity = 1 << 10

// IdentityHandler answers IdentityPath for this node.
func (n *Node) IdentityHandler() http.Handler {
	body := mustJSON(identity{Node: n.cfg.Node})
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, body)
	})
}

// identityClient keeps no connections: a lost node's address is asked
// once or twice (identify bounds each ask by its context).
var identityClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// identify asks who answers at addr; ok is false when nothing said a name
// (no such path, no HTTP, no answer in time).
func identify(ctx context.Context, addr string) (node string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	// The address is the one a node published in the cluster's registry.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+IdentityPath, nil)
	if err != nil {
		return "", false
	}
	res, err := identityClient.Do(req)
	if err != nil {
		return "", false
	}
	defer func() { _ = res.Body.Close() }()
	var id identity
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, maxIdentity)).Decode(&id) != nil || id.Node == "" {
		return "", false
	}
	return id.Node, true
}
