package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds the X-Forwarded-For entries looked at.
const maxForwardedHops = 32

// ClientIP finds a request's client address. X-Forwarded-For is believed
// only as far as it was written by trusted proxies: starting from the
// connection's peer, while the current hop is a trusted proxy, step to the
// address it says it received the request from (right to left). The first
// untrusted hop is the client. Without trusted proxies it is RemoteAddr,
// and a client cannot spoof it with a header.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP trusts the given proxies, each an address or a CIDR prefix
// ("10.0.0.0/8", "127.0.0.1", "fd00::/8").
func NewClientIP(trustedProxies []string) (*ClientIP, error) {
	c := &ClientIP{}
	for _, s := range trustedProxies {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("ratelimit: trusted proxy %q: %w", s, err)
			}
			c.trusted = append(c.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: trusted proxy %q: %w", s, err)
		}
		a = a.Unmap()
		c.trusted = append(c.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return c, nil
}

// Of returns the client address of r; the zero Addr when RemoteAddr is not
// an IP address (a test's httptest.NewRequest has 192.0.2.1).
func (c *ClientIP) Of(r *http.Request) netip.Addr {
	client := parseHost(r.RemoteAddr)
	if !client.IsValid() || !c.isTrusted(client) {
		return client
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i, seen := len(hops)-1, 0; i >= 0 && seen < maxForwardedHops; i, seen = i-1, seen+1 {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client // a trusted proxy would not write this: stop at the last sure hop
		}
		client = a.Unmap()
		if !c.isTrusted(client) {
			return client
		}
	}
	return client
}

// Key is a KeyFunc limiting by client address. IPv6 clients are limited by
// their /64, which one host or household usually holds whole.
func (c *ClientIP) Key(r *http.Request) (string, bool) {
	a := c.Of(r)
	if !a.IsValid() {
		return "", false
	}
	return AddrKey(a), true
}

// AddrKey is the limiting key of a client address: the address for IPv4,
// its /64 prefix for IPv6.
func AddrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parseHost(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
