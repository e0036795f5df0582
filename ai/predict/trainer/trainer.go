package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iace/iace/ai/predict"
	"github.com/iace/iace/store"
)

// Store is what a Trainer reads and writes (a store.Store).
type Store interface {
	LatestPredictionModel(ctx context.Context, org store.OrgID) (store.PredictionModel, error)
	SavePredictionModel(ctx context.Context, m store.PredictionModel) (store.PredictionModel, error)
	LabelledCalls(ctx context.Context, org store.OrgID, q store.LabelledQuery) ([]store.LabelledCall, error)
}

// loadQueue bounds the model reads waiting for the loader. An ask that
// finds it full is not queued; the organization's next ask tries again.
const loadQueue = 64

// Trainer keeps each organization's prediction model: it serves the
// cached one to the sessions and trains new versions in the background.
// It is safe for concurrent use.
type Trainer struct {
	cfg       Config
	st        Store
	log       *slog.Logger
	m         *metrics
	retrainer predict.Retrainer

	loads  chan store.OrgID // organizations whose model to read
	wake   chan struct{}    // a check is pending; capacity 1
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	closed  bool
	orgs    map[store.OrgID]*org
	pending []store.OrgID // in the order Applied queued them
}

// org is what the Trainer knows of one organization; guarded by
// Trainer.mu.
type org struct {
	// model is what Predictor serves, nil for the prior; version is the
	// stored version it was read from (also when that one was refused), so
	// that a read that raced with a newer save cannot replace it.
	model   *predict.Model
	version int
	// nextLoad is when the model is read again; loading while a read is
	// queued or running.
	nextLoad time.Time
	loading  bool

	// applied counts the calls Applied since the last check started; the
	// next check waits for wait of them, or until checkedAt+CheckEvery.
	applied   int
	wait      int
	checkedAt time.Time
	queued    bool
}

// New starts a Trainer over st: its loader and its worker run until Close
// or until ctx (the server's lifetime) ends. log receives a line per
// training and the failures (nil: slog.Default()); reg, the metrics (nil:
// none).
func New(ctx context.Context, cfg Config, st Store, log *slog.Logger, reg prometheus.Registerer) (*Trainer, error) {
	if st == nil {
		return nil, errors.New("trainer: no store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Trainer{
		cfg:       cfg,
		st:        st,
		log:       log,
		m:         m,
		retrainer: predict.Retrainer{NewCalls: cfg.NewCalls, Growth: cfg.Growth},
		loads:     make(chan store.OrgID, loadQueue),
		wake:      make(chan struct{}, 1),
		orgs:      make(map[store.OrgID]*org),
	}
	ctx, t.cancel = context.WithCancel(ctx)
	t.wg.Go(func() { t.loader(ctx) })
	t.wg.Go(func() { t.worker(ctx) })
	return t, nil
}

// Close stops the loader and the worker, abandoning a check in progress
// (the next call of its organization checks it again), and waits for them.
// Predictor keeps serving what is cached. It is idempotent.
func (t *Trainer) Close() {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		t.cancel()
	})
	t.wg.Wait()
}

// orgLocked is o's state, created on first use; t.mu is held.
func (t *Trainer) orgLocked(id store.OrgID) *org {
	o := t.orgs[id]
	if o == nil {
		o = &org{}
		t.orgs[id] = o
	}
	return o
}

// Predictor returns the organization's current model, nil while it has
// none (or none readable, or it is still being read): the session then
// uses predict.Prior. It never waits: a read it needs is queued for the
// loader. The model is shared and must not be changed.
func (t *Trainer) Predictor(id store.OrgID) *predict.Model {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.orgLocked(id)
	if !o.loading && !t.closed && !now.Before(o.nextLoad) {
		select {
		case t.loads <- id:
			o.loading = true
		default: // the loader is behind; the next ask queues it
		}
	}
	return o.model
}

// Applied tells the Trainer that a finished call of the organization is in
// the store. It never waits: it counts the call, and queues the
// organization for a check when enough calls have come since the last one
// to make a training due, or CheckEvery has passed. When MaxPending
// organizations already wait, it drops the call and counts it.
func (t *Trainer) Applied(id store.OrgID) {
	if id == "" {
		return
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	o := t.orgLocked(id)
	o.applied++
	if o.queued || (o.applied < o.wait && now.Sub(o.checkedAt) < t.cfg.CheckEvery) {
		return
	}
	if len(t.pending) >= t.cfg.MaxPending {
		t.m.dropped.Inc()
		return
	}
	o.queued = true
	t.pending = append(t.pending, id)
	select {
	case t.wake <- struct{}{}:
	default: // the worker is already woken
	}
}

// loader reads the models Predictor asked for, one at a time.
func (t *Trainer) loader(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-t.loads:
			t.load(ctx, id)
		}
	}
}

// load reads the organization's latest model and caches it.
func (t *Trainer) load(ctx context.Context, id store.OrgID) {
	rctx, cancel := context.WithTimeout(ctx, t.cfg.LoadTimeout)
	row, err := t.st.LatestPredictionModel(rctx, id)
	cancel()
	now := t.cfg.Now()
	switch {
	case errors.Is(err, store.ErrNotFound):
		t.m.loads.WithLabelValues(loadNone).Inc()
		t.publish(id, 0, nil, now)
	case err != nil:
		t.mu.Lock()
		o := t.orgLocked(id)
		o.loading, o.nextLoad = false, now.Add(t.cfg.LoadRetry)
		t.mu.Unlock()
		if ctx.Err() != nil {
			return // closing
		}
		t.m.loads.WithLabelValues(loadFailed).Inc()
		t.log.Warn("prediction model not read; the organization keeps its cached model or the prior", "org_id", string(id), "err", err)
	default:
		m, err := decode(row)
		if err != nil {
			t.m.loads.WithLabelValues(loadInvalid).Inc()
			t.log.Warn("stored prediction model refused; the organization uses the prior", "org_id", string(id), "version", row.Version, "err", err)
			t.publish(id, row.Version, nil, now)
			return
		}
		t.m.loads.WithLabelValues(loadLoaded).Inc()
		t.publish(id, row.Version, m, now)
	}
}

// publish makes m (nil: the prior), read or saved as version, the
// organization's model until now+Refresh, unless a newer version is
// already cached.
func (t *Trainer) publish(id store.OrgID, version int, m *predict.Model, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.orgLocked(id)
	o.loading, o.nextLoad = false, now.Add(t.cfg.Refresh)
	if version >= o.version {
		o.model, o.version = m, version
	}
}

// decode reads a stored model; its Version is the row's, which the store
// gave it on save.
func decode(row store.PredictionModel) (*predict.Model, error) {
	var m predict.Model
	if err := json.Unmarshal(row.Model, &m); err != nil {
		return nil, fmt.Errorf("version %d: %w", row.Version, err)
	}
	m.Version = row.Version
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// worker checks the organizations Applied queued, in order.
func (t *Trainer) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		for ctx.Err() == nil {
			id, ok := t.next()
			if !ok {
				break
			}
			t.check(ctx, id)
		}
	}
}

// next takes the first pending organization and starts its count of
// calls again.
func (t *Trainer) next() (store.OrgID, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) == 0 {
		return "", false
	}
	id := t.pending[0]
	t.pending[0] = ""
	t.pending = t.pending[1:]
	if len(t.pending) == 0 {
		t.pending = nil // let the array go
	}
	o := t.orgLocked(id)
	o.queued, o.applied = false, 0
	o.wait, o.checkedAt = int(^uint(0)>>1), t.cfg.Now() // until this check says
	return id, true
}
