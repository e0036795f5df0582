// Package predict estimates, after every turn of a call handled by an AI
// agent, the probability that the call ends resolved and the risk that it
// goes to a human. It holds the features, the model and its training, the
// rule for retraining, the evaluation measures and a synthetic call
// generator; the session and the API use it, it uses neither.
//
// # Features
//
// Features are what is known of a call so far: the caller turns' sentiment
// (average, minimum, least-squares trend per turn, last), the run of
// negative turns that ends with the latest one (below NegativeBelow, the
// threshold of the call statistics), the agent's fallbacks, the caller
// turns, the duration, whether the caller's words matched a known intent,
// and the caller's earlier calls and escalations. A Tracker keeps them turn
// by turn in constant space; Features.Vector turns them into numbers in the
// order of FeatureNames.
//
// # Model
//
// A Model is two logistic regressions over the standardised vector, one for
// resolution and one for escalation; Model.Predict allocates nothing and
// takes about 100 ns. Train fits both by Newton's method on the L2-penalised
// log-loss (its doc says why Newton, and why no library), deterministically,
// from an organisation's finished calls (Example: features at the end, and
// the outcome). A model is stored as JSON that names its features, so a
// model of another feature set is refused on load.
//
// Examples are the features at the end of a call, but the session predicts
// mid-call: a live prediction reads as "if the call ended like this". Early
// in a call, when duration and turns are still low, it leans on sentiment,
// fallbacks, intent and history, which is what there is to go on.
//
// # Prior
//
// Until an organisation has MinExamples labelled calls, with at least
// MinClassExamples on each side of both labels (Counts.Enough), it uses
// Prior: hand-set weights whose reasons are written beside them (falling or
// negative sentiment, negative streaks, fallbacks, long calls and earlier
// escalations raise the escalation risk and lower the resolution; a matched
// intent does the opposite). On synthetic calls the Prior ranks nearly as
// well as a trained model but is worse calibrated: a trained model learns
// the organisation's own base rates.
//
// # Retraining
//
// Retrainer.Due trains a model as soon as the calls are Enough, then again
// once the labelled calls since the last training reach 50 or 20% of those
// it was trained on, whichever comes first. Model.Version counts the
// trainings; 0 is the Prior. AUC and Calibration measure a model on held-out
// calls.
//
// # Generator
//
// Generate simulates calls whose latent frustration drives sentiment,
// fallbacks, duration and the outcomes, with noise; its doc lists the
// assumptions. It feeds the tests and benchmarks, with a fixed seed.
package predict
