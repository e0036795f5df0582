// Package trainer trains, stores and serves each organization's outcome
// prediction model (ai/predict) from its own finished calls. A Trainer
// answers the sessions from memory without blocking, and trains in the
// background when the calls written since the last model call for it.
//
// # Serving
//
// Predictor returns the organization's cached model, or nil (the session
// then uses predict.Prior). The first ask for an organization, and any ask
// once its model is older than Config.Refresh, queues a read of the latest
// stored version on the Trainer's loader; the ask itself never waits for
// it. So a model trained on another node reaches every node within
// Refresh. A stored model this build cannot read (another feature set, a
// value that is not finite) is logged and ignored: the organization runs on
// the prior until a valid version is stored.
//
// # Training
//
// Applied is called once a finished call's record is in the store. It only
// counts the call and, when that many calls could make a training due, puts
// the organization in a bounded pending set; the Trainer's one worker then
// checks it: the latest model's Examples and TrainedAt, the labelled calls
// since (at most as many as could make it due), and, when
// predict.Retrainer says so, trains on the newest Config.MaxExamples
// labelled calls. A call is labelled resolved or escalated by its outcome
// (abandoned and failed calls are neither); calls whose stored features
// cannot be read are skipped and counted.
//
// A share of the calls (Config.HoldOut, one in five by default), chosen by
// a hash of the call id so that the choice is the same at every training,
// is held out: the model is fitted on the others, which must be Enough on
// their own, and its AUC for both labels measured on these; then it is
// saved as the organization's next version with both figures and served
// at once.
// The log line of a training gives the organization, the version, the
// counts and the AUCs of the new model and of the prior on the same calls;
// never anything a caller said.
package trainer
