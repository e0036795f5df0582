package predict

import (
	"math"
	"math/rand/v2"
	"time"
)

// pcgStream is the PCG stream of Generate; the seed picks the state. A
// fixed constant, so that a seed alone names a data set.
const pcgStream = 0x1ace_5eed

// Generate returns n synthetic finished calls, the same for the same seed on
// every platform (math/rand/v2's PCG and its float functions are specified
// bit for bit). The calls stand in for an organisation's labelled history in
// tests and benchmarks; they are not evidence of how real callers behave.
//
// The assumptions, each a knob in simulate:
//
//   - Every call has a latent frustration F, never observed. It starts from
//     the caller's temperament (a per-caller normal that also made their
//     earlier calls escalate more often), call-specific noise, and a push up
//     when the agent has no intent for what the caller wants (20% of calls).
//   - F walks from turn to turn: calls with a matched intent tend to calm
//     down, the others to heat up, with noise on both.
//   - Each caller turn is scored tanh(0.3 - 0.9·F + noise): sentiment is a
//     noisy, bounded reading of F, mildly positive for a calm caller.
//   - After a caller turn the agent falls back (did not understand) with a
//     probability rising with F and far higher without a matched intent; a
//     fallback raises F.
//   - A call plans 2 to 10 caller turns, each with its agent reply taking
//     6 s plus an exponential 8 s on average, a fallback 5 s more.
//   - After any turn a frustrated caller may demand a human at once
//     (logistic in F, rare below F = 2): the call escalates there, shorter
//     than planned.
//   - A call that reaches its end escalates with a probability logistic in F
//     and in the caller's earlier escalations; otherwise it is resolved with
//     a probability falling with F and rising with a matched intent; the
//     rest are abandoned (neither label).
//
// Labels are drawn, not thresholded, so even a perfect model of F errs. The
// default draws give about 62% resolved and 18% escalated calls.
func Generate(seed uint64, n int) []Example {
	r := rand.New(rand.NewPCG(seed, pcgStream)) //nolint:gosec // G404: a simulation must repeat from its seed; nothing here is secret.
	out := make([]Example, max(n, 0))
	for i := range out {
		out[i] = simulate(r)
	}
	return out
}

// simulate draws one call; see Generate for the model.
func simulate(r *rand.Rand) Example {
	temperament := r.NormFloat64()

	// History: a geometric number of earlier calls (mean about 1.2), each
	// escalated more often for a difficult temperament.
	var t Tracker
	prevCalls, prevEsc := 0, 0
	for prevCalls < 50 && r.Float64() > 0.45 {
		prevCalls++
		if r.Float64() < sigmoid(-1.8+temperament) {
			prevEsc++
		}
	}
	t.SetHistory(prevCalls, prevEsc)

	matched := r.Float64() < 0.8
	f := 0.6*temperament + 0.6*r.NormFloat64()
	drift := 0.12 * r.NormFloat64()
	if matched {
		t.IntentMatched()
		drift -= 0.05
	} else {
		f += 0.9
		drift += 0.1
	}

	var ex Example
	elapsed := 4 * time.Second // greeting
	turns := 2 + r.IntN(9)
	for range turns {
		f += drift + 0.15*r.NormFloat64()
		t.CallerTurn(math.Tanh(0.3 - 0.9*f + 0.35*r.NormFloat64()))
		seconds := 6 + r.ExpFloat64()*8
		fallback := -2.6 + 0.7*f
		if !matched {
			fallback += 1.3
		}
		if r.Float64() < sigmoid(fallback) {
			t.Fallback()
			f += 0.3
			seconds += 5
		}
		elapsed += time.Duration(seconds * float64(time.Second))
		if r.Float64() < sigmoid(-6.5+1.4*f) {
			ex.Escalated = true
			break
		}
	}
	if !ex.Escalated {
		ex.Escalated = r.Float64() < sigmoid(-4.2+1.8*f+0.4*float64(prevEsc))
	}
	if !ex.Escalated {
		resolve := 1.0 - 1.6*f
		if matched {
			resolve += 0.7
		}
		ex.Resolved = r.Float64() < sigmoid(resolve)
	}
	ex.Features = t.Features(elapsed)
	return ex
}
