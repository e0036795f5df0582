package escalate

import "github.com/iace/iace/store"

// RecommendedRules returns the escalation rules we suggest to an operator
// who has no reason to choose others, for a general customer-service line
// (deliveries, billing, bookings, opening hours). Each call returns a new
// value, so a caller may change it freely.
//
//   - Keywords are what a caller says when they want a person or when the
//     call has become a matter for one: asking for someone in charge or
//     for any person rather than the agent, in the usual phrasings ("a
//     manager", "your boss", "a real person", "a rep", "a live agent",
//     "put me through"); a formal complaint; a legal or regulatory threat;
//     fraud or a hacked account; a bereavement. CallerSaid lets pass the
//     keywords a caller does not ask for ("I don't need a human", "my
//     manager asked me to book"). "complain" is left out ("I can't
//     complain" is praise), and so are routine words such as "cancel" or
//     "refund" that the agent handles, and bare "person", "someone" and
//     "agent" ("per person", "someone took my card", "my travel agent").
//   - NegativeTurns 3: a caller still negative after three exchanges is
//     not being helped by the agent.
//   - SentimentBelow -0.4: below the negative line (-0.25), so that a
//     caller who names the problem ("it's late", "it's the wrong one") is
//     not handed over, and above the scores of plainly angry turns
//     ("I'm furious", "this is unacceptable", "I'm sick of being fobbed
//     off": -0.75 and lower with the lexicon). On the development set any
//     threshold from -0.3 to -0.5 decides the same calls; -0.4 is the
//     middle of that range, not a fitted value.
//   - RepeatedFallbacks 2: a third "sorry, I didn't understand" in a row
//     costs more goodwill than a transfer.
//
// MaxDurationSeconds is left off: how long a call may reasonably last
// depends on what the agent does. TransferOnDTMFZero and the transfer tool
// are the session's, not this policy's.
//
// The labelled conversations in testdata measure these rules with the
// offline lexicon scorer (TestLabelledConversations; see the package
// documentation for how to read the figures).
func RecommendedRules() store.EscalationRules {
	return store.EscalationRules{
		Keywords: []string{
			// someone in charge, or any person rather than the agent
			"manager", "supervisor", "boss", "in charge",
			"human", "real person", "actual person", "live person", "to a person", "with a person",
			"representative", "rep", "operator", "an agent", "live agent", "real agent",
			"speak to someone", "talk to someone", "speak with someone", "talk with someone",
			"speak to somebody", "talk to somebody", "speak with somebody", "talk with somebody",
			"put me through", "transfer me", "connect me",
			// a formal complaint
			"complaint", "complaints department", "complaints team",
			// a legal or regulatory threat
			"lawyer", "solicitor", "attorney", "legal action", "ombudsman", "regulator", "trading standards",
			"small claims",
			// fraud and account security
			"fraud", "fraudulent", "scammed", "hacked", "identity theft",
			// a bereavement
			"passed away", "bereavement",
		},
		NegativeTurns:     3,
		SentimentBelow:    -0.4,
		RepeatedFallbacks: 2,
	}
}
