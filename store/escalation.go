package store

// EscalationReason is why a call was handed to a human. The session, the
// webhook, the call record and the iace_escalations_total metric all use
// these values, so a reason means the same thing wherever it is read.
type EscalationReason string

// Escalation reasons. The set is closed: it is a metric label.
const (
	// EscalationCallerRequest: the caller asked for a person.
	EscalationCallerRequest EscalationReason = "caller_request"
	// EscalationKeyword: the caller said one of the agent's escalation keywords.
	EscalationKeyword EscalationReason = "keyword"
	// EscalationSentiment: the caller's sentiment fell below the agent's threshold.
	EscalationSentiment EscalationReason = "sentiment"
	// EscalationNegativeTurns: too many negative caller turns in a row.
	EscalationNegativeTurns EscalationReason = "negative_turns"
	// EscalationRepeatedFallbacks: the agent did not understand the caller too often.
	EscalationRepeatedFallbacks EscalationReason = "repeated_fallbacks"
	// EscalationMaxDuration: the call went on longer than the agent allows.
	EscalationMaxDuration EscalationReason = "max_duration"
	// EscalationDTMF: the caller pressed 0.
	EscalationDTMF EscalationReason = "dtmf"
	// EscalationModelTool: the model handed the call over (transfer_to_human)
	// because it could not help, not because the caller asked.
	EscalationModelTool EscalationReason = "model_tool"
	// EscalationPredictedRisk: the predicted escalation risk passed the
	// agent's threshold.
	EscalationPredictedRisk EscalationReason = "predicted_risk"
	// EscalationWordsModel: the offline words model's probability that the
	// call needs a person passed the agent's threshold.
	EscalationWordsModel EscalationReason = "words_model"
	// EscalationProviderFailure: a provider the agent needs failed, and the
	// caller was handed over rather than left on a silent line. The call's
	// outcome is failed, not escalated: nobody chose to escalate.
	EscalationProviderFailure EscalationReason = "provider_failure"
	// EscalationSupervisor: a supervisor transferred the call.
	EscalationSupervisor EscalationReason = "supervisor"
)

// EscalationReasons lists every reason, in the order above.
var EscalationReasons = []EscalationReason{EscalationCallerRequest, EscalationKeyword, EscalationSentiment,
	EscalationNegativeTurns, EscalationRepeatedFallbacks, EscalationMaxDuration, EscalationDTMF, EscalationModelTool,
	EscalationPredictedRisk, EscalationWordsModel, EscalationProviderFailure, EscalationSupervisor}

// Valid reports whether r is one of the reasons; the empty reason (no
// escalation) is valid too.
func (r EscalationReason) Valid() bool {
	if r == "" {
		return true
	}
	for _, v := range EscalationReasons {
		if r == v {
			return true
		}
	}
	return false
}
