package escalate

import "github.com/iace/iace/store"

// RecommendedRules returns the escalation rules we suggest to an operator
// who has no reason to choose others, for a general customer-service line
// (deliveries, billing, bookings, opening hours). Each call returns a new
// value, so a caller may change it freely.
//
//   - Keywords are what a caller says when they want a person or when the
//     call has become a matter for one: asking for a manager, a supervisor,
//     a human or someone; a formal complaint; a legal threat; fraud.
//     "complain" is left out ("I can't complain" is praise), and so are
//     routine words such as "cancel" or "refund" that the agent handles.
//   - NegativeTurns 3: a caller still negative after three exchanges is
//     not being helped by the agent.
//   - SentimentBelow -0.4: the rule acts from the second turn, so it sits
//     below the negative line (-0.25), lest a caller who names the problem
//     in two turns ("it's late", "it's the wrong one") be handed over; but
//     not far below, since callers mostly set out the facts in words that
//     carry no sentiment, and those turns pull the mean of three towards 0
//     just as the caller turns angry (-0.5 missed such callers).
//   - RepeatedFallbacks 2: a third "sorry, I didn't understand" in a row
//     costs more goodwill than a transfer.
//
// MaxDurationSeconds is left off: how long a call may reasonably last
// depends on what the agent does. TransferOnDTMFZero and the transfer tool
// are the session's, not this policy's.
//
// The labelled conversations in testdata measure these rules with the
// offline lexicon scorer (TestLabelledConversations).
func RecommendedRules() store.EscalationRules {
	return store.EscalationRules{
		Keywords: []string{
			"manager", "supervisor",
			"human", "real person", "representative", "operator",
			"speak to someone", "talk to someone",
			"complaint",
			"lawyer", "solicitor", "attorney", "legal action",
			"fraud",
		},
		NegativeTurns:     3,
		SentimentBelow:    -0.4,
		RepeatedFallbacks: 2,
	}
}
