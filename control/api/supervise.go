package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
	"github.com/iace/iace/store"
)

// Supervision lets a supervisor act on a call in progress, on whichever
// node holds it (*cluster.Node): switch their role on it, or whisper
// guidance to the AI.
// A call that is unknown, has ended or belongs to another organization is
// session.ErrCallNotFound; the other errors are session.ErrInvalidRole,
// session.ErrInvalidWhisper, session.ErrSupervisorBusy and
// session.ErrCallMoving.
type Supervision interface {
	Supervise(ctx context.Context, org store.OrgID, id session.CallID, role session.SupervisorRole) error
	Whisper(ctx context.Context, org store.OrgID, id session.CallID, text string) error
}

// rolesDoc says what each role does; it is the role endpoint's description.
const rolesDoc = "Switch what a supervisor's voice does on a call in progress. " +
	"`monitor` (every call's role until switched): listen only, the microphone reaches nobody. " +
	"`whisper`: guide the AI by typed text (POST /calls/{id}/whisper), which the model gets on its next turn; the caller hears nothing of it. " +
	"`barge`: the caller hears the supervisor's microphone and the AI, never at once: when the supervisor speaks the AI stops " +
	"and holds its reply until they have finished. " +
	"`takeover`: the AI stops and stays silent; the caller's words are transcribed but unanswered, until the role is switched " +
	"back or the supervisor's microphone (their WHIP session) closes, when the call goes back to `monitor` and the AI. " +
	"Opening the microphone does not change the role; this does. The switch is applied by the call within moments and shows as a " +
	"`supervisor_role` event in the call's live events, the live list's and its record; switching to the role the call has already " +
	"changes nothing. A call that has ended or belongs to another organization is 404; a call with too many " +
	"commands waiting is 503 with Retry-After. Every command is logged."

type supervisorRoleInput struct {
	CallIDPath
	Body struct {
		Role string `json:"role" enum:"monitor,whisper,barge,takeover" doc:"monitor, whisper, barge or takeover"`
	}
}

type supervisorRoleOutput struct {
	Body struct {
		CallID store.CallID `json:"call_id"`
		Role   string       `json:"role" enum:"monitor,whisper,barge,takeover"`
	}
}

type whisperInput struct {
	CallIDPath
	Body struct {
		Text string `json:"text" minLength:"1" maxLength:"1000" doc:"Guidance for the AI, which it gets on its next turn; the caller does not hear it. At most 1000 bytes of UTF-8 once trimmed. Not kept in the call's record nor in the logs"`
	}
}

func (a *API) superviseRoutes() {
	o := op("setSupervisorRole", http.MethodPost, "/calls/{id}/role", "Switch the supervisor's role on a call in progress", "calls", store.RoleSupervisor)
	o.Description = rolesDoc
	o.Errors = append(o.Errors, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	huma.Register(a.huma, o, func(ctx context.Context, in *supervisorRoleInput) (*supervisorRoleOutput, error) {
		role := session.SupervisorRole(in.Body.Role)
		err := a.supervise(ctx, in.ID, "role", []any{"role", in.Body.Role}, func(s Supervision, org store.OrgID) error {
			return s.Supervise(ctx, org, session.CallID(in.ID), role)
		})
		if err != nil {
			return nil, err
		}
		out := &supervisorRoleOutput{}
		out.Body.CallID, out.Body.Role = store.CallID(in.ID), string(role)
		return out, nil
	})

	o = op("whisperCall", http.MethodPost, "/calls/{id}/whisper", "Whisper guidance to the AI of a call in progress", "calls", store.RoleSupervisor)
	o.Description = "The text is added to the AI's context on its next turn, whatever the supervisor's role; the caller hears " +
		"nothing of it. It shows as a `whisper` event (with the text) in the call's live events, and in its record without the text. " +
		"A call that has ended or belongs to " +
		"another organization is 404; text empty once trimmed, or over 1000 bytes, is 422; a call with 8 whispers waiting for " +
		"the next turn, or too many commands waiting, is 503 with Retry-After. Every whisper is logged, never its text."
	o.DefaultStatus = http.StatusAccepted
	o.Errors = append(o.Errors, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	huma.Register(a.huma, o, func(ctx context.Context, in *whisperInput) (*actionOutput, error) {
		err := a.supervise(ctx, in.ID, "whisper", nil, func(s Supervision, org store.OrgID) error {
			return s.Whisper(ctx, org, session.CallID(in.ID), in.Body.Text)
		})
		if err != nil {
			return nil, err
		}
		return action(store.CallID(in.ID), "whisper"), nil
	})
}

// supervise runs one supervision command on the principal's call id,
// maps its error to the answer, and logs it once: who, which call, what
// (action and attrs) and the result.
func (a *API) supervise(ctx context.Context, id, what string, attrs []any, do func(Supervision, store.OrgID) error) error {
	p := principal(ctx)
	audit := func(level slog.Level, result string) {
		args := append([]any{"request_id", requestID(ctx), "org_id", string(p.OrgID), "user_id", string(p.UserID),
			"call_id", id, "action", what}, attrs...)
		a.log.Log(ctx, level, "call supervision", append(args, "result", result)...)
	}
	if a.deps.Supervision == nil {
		audit(slog.LevelInfo, "unavailable")
		return huma.Error503ServiceUnavailable("supervision of live calls is not available")
	}
	err := do(a.deps.Supervision, p.OrgID)
	switch {
	case err == nil:
		audit(slog.LevelInfo, "done")
		return nil
	case errors.Is(err, session.ErrCallNotFound):
		audit(slog.LevelInfo, "not_found")
		return huma.Error404NotFound("no such live call")
	case errors.Is(err, session.ErrInvalidRole):
		audit(slog.LevelInfo, "invalid")
		return huma.Error422UnprocessableEntity("the role must be monitor, whisper, barge or takeover")
	case errors.Is(err, session.ErrInvalidWhisper):
		audit(slog.LevelInfo, "invalid")
		return huma.Error422UnprocessableEntity("a whisper is 1 to 1000 bytes of UTF-8 text, not blank")
	case errors.Is(err, session.ErrSupervisorBusy):
		audit(slog.LevelInfo, "busy")
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("the call has too many supervisor commands waiting; retry in a moment"),
			http.Header{"Retry-After": {"1"}})
	case errors.Is(err, session.ErrCallMoving):
		// Asked again for seconds already (cluster.Node.untilMoved): the
		// move is slow to finish; the call is still the caller's.
		audit(slog.LevelInfo, "moving")
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("the call is moving to another node; retry in a moment"),
			http.Header{"Retry-After": {"1"}})
	case errors.Is(err, cluster.ErrUnreachable):
		audit(slog.LevelWarn, "unreachable")
		a.log.WarnContext(ctx, "api: the node holding the call did not answer", "request_id", requestID(ctx), "call_id", id, "err", err)
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("the node holding the call did not answer; retry in a moment"),
			http.Header{"Retry-After": {"1"}})
	}
	audit(slog.LevelWarn, "failed") // the error is logged by internalError
	return a.internalError(ctx, "call supervision", err)
}
