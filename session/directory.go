package session

import (
	"context"
	"errors"
)

// Directory shares this node's live calls with the other nodes of a
// deployment (session/cluster implements it over Redis). The engine tells
// it of every call's start and end, and asks it before a call starts
// whether the call's organization may have one more.
type Directory interface {
	// Admit is asked once per call, before its session starts, with the
	// call's id, organization and agent: an error refuses the stream
	// (ErrOrgAtLimit). It must answer within its own short deadline; a
	// directory that cannot reach its store admits (a caller is not
	// refused because Redis is away).
	Admit(ctx context.Context, info CallInfo) error
	// Started and Ended are told of each admitted call; they must not
	// block (the call's goroutine calls them). Ended is also told of an
	// admitted call that failed to start, with reason "".
	Started(info CallInfo)
	Ended(info CallInfo, reason EndReason)
}

// ErrOrgAtLimit refuses a call of an organization that has as many calls
// in progress, across the nodes, as it may have.
var ErrOrgAtLimit = errors.New("session: the organization is at its concurrent-call limit")

// ErrAtCapacity refuses a stream on a node that already holds more calls
// than its capacity allows (Config.MaxCalls and its margin).
var ErrAtCapacity = errors.New("session: this node is at its call capacity")

// hardCapacity is the live calls past which new streams are refused: the
// capacity and a tenth above it, for the streams the load balancer still
// sends before it sees the node not ready.
func hardCapacity(maxCalls int) int { return maxCalls + (maxCalls+9)/10 }
