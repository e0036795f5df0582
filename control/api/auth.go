package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/sync/errgroup"

	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/control/ratelimit"
	"github.com/iace/iace/store"
)

// Authenticator logs users in and checks their tokens (control/auth's
// Service). Its errors reach clients as 401 without detail, except
// throttling (an error with a RetryAfter() method: 429), auth.ErrBusy and
// store.ErrUnavailable (503).
type Authenticator interface {
	Login(ctx context.Context, email, password string, from netip.Addr) (auth.Tokens, error)
	Refresh(ctx context.Context, refreshToken string) (auth.Tokens, error)
	Logout(ctx context.Context, refreshToken string) error
	Authenticate(ctx context.Context, accessToken string) (auth.Principal, error)
	// CreateUser hashes password and creates the user; a password that breaks
	// the rules is an error wrapping store.ErrInvalid.
	CreateUser(ctx context.Context, org store.OrgID, email, password string, role store.Role) (store.User, error)
	// DisableUser disables the user and ends their sessions at once.
	DisableUser(ctx context.Context, org store.OrgID, user store.UserID) (store.User, error)
	// UpdateUser writes a changed user; the user's next request on this
	// node already sees the change (a new role).
	UpdateUser(ctx context.Context, u store.User) (store.User, error)
	// ChangePassword changes the password of p's user, who gives their
	// current one (a wrong one is auth.ErrWrongPassword, throttled like
	// logins; a new one that breaks the rules wraps store.ErrInvalid),
	// ends every session of the user and starts a new one.
	ChangePassword(ctx context.Context, p auth.Principal, current, next string, from netip.Addr) (auth.Tokens, error)
}

// roleNone marks an operation that needs no token.
const roleNone store.Role = ""

// roleKey is the operation metadata key of the least role an operation needs.
const roleKey = "iace-role"

// rank orders the roles: a higher rank may do what a lower one may.
func rank(r store.Role) int {
	switch r {
	case store.RoleAdmin:
		return 3
	case store.RoleSupervisor:
		return 2
	case store.RoleViewer:
		return 1
	}
	return 0
}

// principal is the authenticated caller of a request.
func principal(ctx context.Context) auth.Principal {
	p, _ := auth.PrincipalFrom(ctx)
	return p
}

// authenticate is the huma middleware that checks the bearer token and the
// role an operation needs, then the caller's own rate limit.
func (a *API) authenticate(ctx huma.Context, next func(huma.Context)) {
	need, _ := ctx.Operation().Metadata[roleKey].(store.Role)
	if need == roleNone {
		next(ctx)
		return
	}
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	token, ok := auth.BearerToken(ctx.Header("Authorization"))
	if !ok || len(token) > maxTokenLen {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="iace"`)
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnauthorized, "a bearer access token is required")
		return
	}
	p, err := a.deps.Auth.Authenticate(ctx.Context(), token)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, auth.ErrBusy) {
			_ = huma.WriteErr(a.huma, ctx, http.StatusServiceUnavailable, "authentication is unavailable; retry shortly")
			return
		}
		a.metrics.authFailures.WithLabelValues("token").Inc()
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="iace", error="invalid_token"`)
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnauthorized, "the access token is invalid or expired")
		return
	}
	if rank(p.Role) < rank(need) {
		_ = huma.WriteErr(a.huma, ctx, http.StatusForbidden, "this needs the "+string(need)+" role")
		return
	}
	if a.deps.UserLimit != nil {
		if ok, wait := a.allow(ctx.Context(), a.deps.UserLimit, "user:"+string(p.UserID)); !ok {
			a.metrics.limited.WithLabelValues("user").Inc()
			ctx.SetHeader("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
			_ = huma.WriteErr(a.huma, ctx, http.StatusTooManyRequests, "too many requests; slow down")
			return
		}
	}
	setLogOrg(ctx.Context(), p.OrgID)
	next(huma.WithContext(ctx, auth.WithPrincipal(ctx.Context(), p)))
}

// maxTokenLen caps a bearer token: ours are a few hundred bytes.
const maxTokenLen = 4096

// allow asks a limiter; a limiter that fails lets the request through (it
// logs and counts its own failures).
func (a *API) allow(ctx context.Context, l Limiter, key string) (bool, time.Duration) {
	ok, wait, err := l.Allow(ctx, key)
	if err != nil {
		return true, 0
	}
	return ok, wait
}

// authError maps an authenticator's error on login, refresh, logout or a
// password change.
func (a *API) authError(ctx context.Context, what string, err error) error {
	var throttled interface{ RetryAfter() time.Duration }
	switch {
	case errors.As(err, &throttled):
		a.metrics.limited.WithLabelValues("login").Inc()
		return huma.ErrorWithHeaders(huma.Error429TooManyRequests("too many attempts; try again later"),
			http.Header{"Retry-After": {strconv.Itoa(ratelimit.RetryAfterSeconds(throttled.RetryAfter()))}})
	case errors.Is(err, auth.ErrBusy):
		a.metrics.limited.WithLabelValues("hashing").Inc()
		a.log.WarnContext(ctx, "api: "+what+": too many password checks at once; shed", "request_id", requestID(ctx))
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("too many logins at once; retry shortly"),
			http.Header{"Retry-After": {"1"}})
	case errors.Is(err, store.ErrUnavailable):
		a.log.WarnContext(ctx, "api: "+what+": store unavailable", "request_id", requestID(ctx), "err", err)
		return huma.Error503ServiceUnavailable("authentication is unavailable; retry shortly")
	case errors.Is(err, auth.ErrWrongPassword):
		// The token is good, so not 401 (which tells a client to log in
		// again): the password given is wrong.
		a.metrics.authFailures.WithLabelValues(what).Inc()
		a.log.InfoContext(ctx, "api: "+what+" refused: wrong current password", "request_id", requestID(ctx))
		return huma.Error403Forbidden("the current password is wrong")
	case errors.Is(err, store.ErrInvalid):
		return huma.Error422UnprocessableEntity(invalidDetail(err))
	}
	a.metrics.authFailures.WithLabelValues(what).Inc()
	a.log.InfoContext(ctx, "api: "+what+" refused", "request_id", requestID(ctx), "reason", err.Error())
	switch what {
	case "login":
		return huma.Error401Unauthorized("wrong email or password")
	case "password":
		return huma.Error401Unauthorized("the access token is invalid or expired")
	}
	return huma.Error401Unauthorized("the refresh token is invalid, expired or already used")
}

type loginInput struct {
	Body struct {
		Email    string `json:"email" format:"email" maxLength:"254" doc:"The user's email address"`
		Password string `json:"password" minLength:"1" maxLength:"1024"`
	}
}

type refreshInput struct {
	Body struct {
		RefreshToken string `json:"refresh_token" minLength:"1" maxLength:"512"`
	}
}

type passwordInput struct {
	Body struct {
		CurrentPassword string `json:"current_password" minLength:"1" maxLength:"1024"`
		NewPassword     string `json:"new_password" minLength:"12" maxLength:"1024" doc:"At least 12 characters"`
	}
}

type tokenBody struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	TokenType        string `json:"token_type" enum:"Bearer"`
	ExpiresIn        int    `json:"expires_in" doc:"Seconds until the access token expires"`
	RefreshExpiresIn int    `json:"refresh_expires_in" doc:"Seconds until the refresh token expires if unused"`
}

type tokenOutput struct {
	Body tokenBody
}

func tokenOut(t auth.Tokens) *tokenOutput {
	now := time.Now()
	return &tokenOutput{Body: tokenBody{
		AccessToken:      t.AccessToken,
		RefreshToken:     t.RefreshToken,
		TokenType:        "Bearer",
		ExpiresIn:        int(t.AccessExpiresAt.Sub(now) / time.Second),
		RefreshExpiresIn: int(t.RefreshExpiresAt.Sub(now) / time.Second),
	}}
}

type meOutput struct {
	Body struct {
		UserID  store.UserID `json:"user_id"`
		OrgID   store.OrgID  `json:"org_id"`
		OrgName string       `json:"org_name"`
		Email   string       `json:"email"`
		Role    store.Role   `json:"role"`
	}
}

func (a *API) authRoutes() {
	o := op("login", http.MethodPost, "/auth/login", "Log in with email and password", "auth", roleNone)
	o.Description = "Returns a 30-minute access token and a 7-day refresh token. Repeated failures for an email or from an address are throttled (429 with Retry-After)."
	o.Errors = []int{http.StatusUnauthorized, http.StatusTooManyRequests}
	huma.Register(a.huma, o, func(ctx context.Context, in *loginInput) (*tokenOutput, error) {
		t, err := a.deps.Auth.Login(ctx, in.Body.Email, in.Body.Password, clientIP(ctx))
		if err != nil {
			return nil, a.authError(ctx, "login", err)
		}
		return tokenOut(t), nil
	})

	o = op("refresh", http.MethodPost, "/auth/refresh", "Exchange a refresh token for new tokens", "auth", roleNone)
	o.Description = "The refresh token is rotated: the one presented stops working. Presenting an already-rotated token revokes every token of its login."
	o.Errors = []int{http.StatusUnauthorized, http.StatusTooManyRequests}
	huma.Register(a.huma, o, func(ctx context.Context, in *refreshInput) (*tokenOutput, error) {
		t, err := a.deps.Auth.Refresh(ctx, in.Body.RefreshToken)
		if err != nil {
			return nil, a.authError(ctx, "refresh", err)
		}
		return tokenOut(t), nil
	})

	o = op("logout", http.MethodPost, "/auth/logout", "Log out: revoke the refresh token's login", "auth", roleNone)
	o.DefaultStatus = http.StatusNoContent
	o.Errors = []int{http.StatusUnauthorized}
	huma.Register(a.huma, o, func(ctx context.Context, in *refreshInput) (*struct{}, error) {
		if err := a.deps.Auth.Logout(ctx, in.Body.RefreshToken); err != nil {
			return nil, a.authError(ctx, "logout", err)
		}
		return nil, nil
	})

	o = op("changePassword", http.MethodPost, "/auth/password", "Change your own password", "auth", store.RoleViewer)
	o.Description = "Needs the current password; wrong ones are throttled like failed logins (429 with Retry-After). " +
		"Every session of the user ends, this one included, and new tokens for a new session are returned."
	o.Errors = append(o.Errors, http.StatusUnprocessableEntity)
	huma.Register(a.huma, o, func(ctx context.Context, in *passwordInput) (*tokenOutput, error) {
		p := principal(ctx)
		t, err := a.deps.Auth.ChangePassword(ctx, p, in.Body.CurrentPassword, in.Body.NewPassword, clientIP(ctx))
		if err != nil {
			return nil, a.authError(ctx, "password", err)
		}
		a.log.InfoContext(ctx, "password changed", "request_id", requestID(ctx), "org_id", string(p.OrgID), "user_id", string(p.UserID))
		return tokenOut(t), nil
	})

	huma.Register(a.huma, op("me", http.MethodGet, "/me", "Who the token belongs to", "auth", store.RoleViewer),
		func(ctx context.Context, _ *struct{}) (*meOutput, error) {
			p := principal(ctx)
			// The two reads are independent: one round trip's time, not two.
			var (
				u   store.User
				org store.Organization
			)
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() (err error) { u, err = a.deps.Store.GetUser(gctx, p.OrgID, p.UserID); return err })
			g.Go(func() (err error) { org, err = a.deps.Store.GetOrg(gctx, p.OrgID); return err })
			if err := g.Wait(); err != nil {
				return nil, a.storeError(ctx, "user", err)
			}
			out := &meOutput{}
			out.Body.UserID, out.Body.OrgID, out.Body.OrgName = u.ID, u.OrgID, org.Name
			out.Body.Email, out.Body.Role = u.Email, u.Role
			return out, nil
		})
}
