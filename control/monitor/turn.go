package monitor

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: HMAC-SHA1 is what the TURN REST API's shared secret mechanism defines; coturn checks it
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// TURN gives players credentials for the TURN servers among
// Config.ICEServers (turn: and turns: URLs), for supervisors whose
// networks block UDP to the node. Either a shared Secret, from which each
// session gets its own credentials valid for TTL (the "TURN REST API"
// scheme that coturn implements as use-auth-secret: the username is the
// expiry time in Unix seconds and the user, the password the base64
// HMAC-SHA1 of the username under the secret), or a fixed Username and
// Password given to every authenticated supervisor. Secrets come from the
// environment, never from flags.
type TURN struct {
	Secret             string
	Username, Password string
	TTL                time.Duration
}

// DefaultTURNTTL is how long per-session TURN credentials last: a
// supervisor's session lasts as long as a call.
const DefaultTURNTTL = time.Hour

// enabled reports whether players get TURN credentials.
func (t TURN) enabled() bool { return t.Secret != "" || t.Username != "" }

func (t TURN) validate(servers []string) error {
	var errs []error
	if t.Secret != "" && (t.Username != "" || t.Password != "") {
		errs = append(errs, errors.New("TURN: a shared secret or a fixed username and password, not both"))
	}
	if (t.Username == "") != (t.Password == "") {
		errs = append(errs, errors.New("TURN: a fixed username needs its password, and a password its username"))
	}
	if t.Secret != "" && (t.TTL < time.Minute || t.TTL > 24*time.Hour) {
		errs = append(errs, errors.New("TURN credentials' lifetime: want 1m to 24h"))
	}
	if t.enabled() && !anyTURN(servers) {
		errs = append(errs, errors.New("TURN credentials are set but no turn: or turns: URL is among the ICE servers"))
	}
	return errors.Join(errs...)
}

func anyTURN(servers []string) bool {
	for _, u := range servers {
		if isTURN(u) {
			return true
		}
	}
	return false
}

func isTURN(u string) bool { return strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") }

// credentials are who's username and password at now.
func (t TURN) credentials(who string, now time.Time) (username, password string) {
	if t.Secret == "" {
		return t.Username, t.Password
	}
	username = strconv.FormatInt(now.Add(t.TTL).Unix(), 10) + ":" + who
	mac := hmac.New(sha1.New, []byte(t.Secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// iceLinks are the Link header values of the ICE servers for who at now
// (RFC 9725 section 4.6): TURN URLs with their credentials when set.
func (h *Handler) iceLinks(who string, now time.Time) []string {
	links := make([]string, 0, len(h.cfg.ICEServers))
	var user, pass string
	if h.cfg.TURN.enabled() {
		user, pass = h.cfg.TURN.credentials(who, now)
	}
	for _, u := range h.cfg.ICEServers {
		link := "<" + u + `>; rel="ice-server"`
		if isTURN(u) && user != "" {
			link += `; username="` + quoteSafe(user) + `"; credential="` + quoteSafe(pass) + `"; credential-type="password"`
		}
		links = append(links, link)
	}
	return links
}

// quoteSafe drops what cannot sit in a quoted Link parameter. A fixed
// username or password with a quote or a backslash is refused by
// validation; base64 and the user ids are safe already.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
