package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iace/iace/ai/openai"
	"github.com/iace/iace/control/api"
	"github.com/iace/iace/control/auth"
	"github.com/iace/iace/media"
	"github.com/iace/iace/media/telnyx"
	"github.com/iace/iace/session"
	"github.com/iace/iace/session/cluster"
)

// config is every setting of iace serve. Each has a flag and an IACE_ env
// variable (the flag name upper-cased, dashes as underscores); a flag given
// on the command line wins over the environment.
type config struct {
	Addr         string
	InternalAddr string
	LogFormat    string
	LogLevel     string
	DrainTimeout time.Duration
	AgentsFile   string
	DataDir      string
	Migrate      bool
	DefaultAgent string

	// Secrets: from the environment only, never flags (visible in ps) or logs.
	DatabaseURL string
	RedisURL    string
	LLMKey      string
	DeepgramKey string
	TelnyxKey   string
	GoogleKey   string
	EmbedKey    string
	AuthSecret  string
	// StreamSecret signs the per-call media stream tokens.
	StreamSecret string
	// PprofToken admits requests to /debug/pprof.
	PprofToken string

	LLMBaseURL   string
	LLMModel     string
	DeepgramURL  string
	TelnyxAPIURL string
	STT          string
	WhisperModel string
	TTS          string
	TTSModel     string
	TTSVoice     string
	EmbedBaseURL string
	EmbedModel   string
	Sentiment    string

	PublicURL              string
	TelnyxPublicKey        string
	UnauthenticatedStreams string

	CORSOrigins    string
	TrustedProxies string
	RateIP         float64
	RateUser       float64
	// Shed is the control API's concurrency limit (--api-shed*), on
	// unless APIShed is false.
	Shed    api.ShedConfig
	APIShed bool

	HTTP  httpConfig
	Pprof bool

	EspeakBinary string
	EspeakWPM    int
	TTSCacheMiB  int

	// Memory: calls read their agent's patterns and their caller's record
	// (--memory); Learning: finished calls teach patterns and update the
	// caller's memory (--learning).
	Memory   bool
	Learning bool

	// Monitor is live call listening (--webrtc-*, --max-listeners).
	Monitor monitorConfig

	// Cluster is this node's place among the nodes sharing IACE_REDIS_URL;
	// MaxCalls its capacity (Session.MaxCalls; 0: automatic); TakeCalls
	// false makes it a node of the API and the webhooks only.
	Cluster   cluster.Config
	MaxCalls  int
	TakeCalls bool
	// hashing is told when passwords are being hashed (the spare
	// processor of a node of the API on one CPU; runServe sets it).
	hashing auth.HashActivity
	// gcPercent is the collector's target serve sets (runServe:
	// gcPercentFor); 0 leaves the runtime's own. ownProcess says serve
	// runs as the process's one server (runServe), not beside others in
	// a test's process: it may tune and collect the process's memory.
	gcPercent  int
	ownProcess bool

	Session   session.Config
	Pacer     media.PacerConfig
	Conn      telnyx.ConnConfig
	Telemetry telemetryConfig
}

func defaultConfig() config {
	return config{
		TakeCalls:              true,
		Addr:                   ":8080",
		InternalAddr:           "127.0.0.1:9090",
		LogFormat:              "auto",
		LogLevel:               "info",
		DrainTimeout:           30 * time.Second,
		DataDir:                "data",
		LLMBaseURL:             "https://api.groq.com/openai/v1",
		LLMModel:               "openai/gpt-oss-20b",
		DeepgramURL:            "wss://api.deepgram.com",
		TelnyxAPIURL:           "https://api.telnyx.com/v2",
		STT:                    "auto",
		WhisperModel:           "whisper-large-v3-turbo",
		TTS:                    "auto",
		TTSModel:               openai.DefaultSpeechModel,
		TTSVoice:               openai.DefaultSpeechVoice,
		EmbedBaseURL:           "https://api.openai.com/v1",
		EmbedModel:             "text-embedding-3-small",
		Sentiment:              "model",
		UnauthenticatedStreams: "auto",
		RateIP:                 50,
		RateUser:               20,
		APIShed:                true,
		HTTP:                   defaultHTTPConfig(),
		Migrate:                true,
		DefaultAgent:           string(demoOrg) + "/" + string(demoAgent),
		EspeakBinary:           "espeak-ng",
		EspeakWPM:              175,
		TTSCacheMiB:            64,
		Memory:                 true,
		Learning:               true,
		Monitor:                defaultMonitorConfig(),
		Session:                session.DefaultConfig(),
		Cluster:                defaultClusterConfig(),
		Pacer:                  media.DefaultPacerConfig(),
		Conn:                   telnyx.DefaultConnConfig(),
	}
}

// flags binds every setting to fs.
func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "public listener: media streams (/media/telnyx)")
	fs.StringVar(&c.InternalAddr, "internal-addr", c.InternalAddr, "internal listener: /metrics, /healthz, /readyz, /debug/pprof")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: auto (text on a terminal, JSON otherwise), json or text")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM/SIGINT, how long live calls may go on before they are ended")
	fs.StringVar(&c.AgentsFile, "agents-file", c.AgentsFile, "JSON file of agents to create or update in the store at start (org_id defaults to demo)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded database (used when IACE_DATABASE_URL is unset) and the call-record spool")
	fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply pending database migrations at start")
	fs.StringVar(&c.DefaultAgent, "default-agent", c.DefaultAgent, "<org id>/<agent id> answering numbers no agent claims (empty: refuse those calls)")
	fs.StringVar(&c.LLMBaseURL, "llm-base-url", c.LLMBaseURL, "OpenAI-compatible API of the chat model (Groq, OpenAI, vLLM, Ollama...), used when "+envLLMKey+" is set")
	fs.StringVar(&c.LLMModel, "llm-model", c.LLMModel, "chat model name")
	fs.StringVar(&c.DeepgramURL, "deepgram-url", c.DeepgramURL, "Deepgram API (live speech-to-text and Aura), used when "+envDeepgramKey+" is set")
	fs.StringVar(&c.TelnyxAPIURL, "telnyx-api-url", c.TelnyxAPIURL, "Telnyx Call Control API, used when "+envTelnyxKey+" is set")
	fs.StringVar(&c.STT, "stt", c.STT, "speech-to-text: auto (Deepgram when "+envDeepgramKey+" is set, else the offline simulator) or whisper (VAD-cut utterances to /audio/transcriptions at --llm-base-url)")
	fs.StringVar(&c.TTS, "tts", c.TTS, "text-to-speech: auto (Deepgram Aura when "+envDeepgramKey+" is set, else espeak-ng) or openai (/audio/speech at --llm-base-url, resampled)")
	fs.StringVar(&c.TTSModel, "tts-model", c.TTSModel, "speech model of --tts openai")
	fs.StringVar(&c.TTSVoice, "tts-voice", c.TTSVoice, "voice of --tts openai; an agent's voice \"openai:<name>\" overrides it")
	fs.StringVar(&c.WhisperModel, "whisper-model", c.WhisperModel, "transcription model of --stt whisper")
	fs.StringVar(&c.EmbedBaseURL, "embed-base-url", c.EmbedBaseURL, "OpenAI-compatible /embeddings API, used when "+envEmbedKey+" is set (and "+envGoogleKey+" is not)")
	fs.StringVar(&c.EmbedModel, "embed-model", c.EmbedModel, "embedding model at --embed-base-url (768 dimensions are asked for)")
	fs.StringVar(&c.Sentiment, "sentiment", c.Sentiment, "caller sentiment: model (JSON-mode chat model when "+envLLMKey+" is set, lexicon when it fails) or lexicon")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "this deployment's public base URL (https://iace.example.com): Telnyx is told to stream calls to its /media/telnyx")
	fs.StringVar(&c.TelnyxPublicKey, "telnyx-public-key", c.TelnyxPublicKey, "the Telnyx account's webhook public key (base64 Ed25519); set: POST /webhooks/telnyx answers calls")
	fs.StringVar(&c.UnauthenticatedStreams, "unauthenticated-streams", c.UnauthenticatedStreams,
		"development switch: accept media streams without a per-call token: auto (only when --addr is loopback, the store is the embedded one and neither "+envTelnyxKey+" nor "+envStreamSecret+" is set), true or false")
	fs.StringVar(&c.CORSOrigins, "cors-origins", c.CORSOrigins, "comma-separated browser origins allowed to call /api/v1 (empty: none)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed")
	fs.Float64Var(&c.RateIP, "rate-limit-ip", c.RateIP, "control API requests per second per client address (burst twice that; 0: no limit)")
	fs.Float64Var(&c.RateUser, "rate-limit-user", c.RateUser, "control API requests per second per user (burst twice that; 0: no limit)")
	fs.BoolVar(&c.APIShed, "api-shed", c.APIShed, "control API overload: beyond what the node serves at once, answer 503 with Retry-After instead of letting every request wait")
	fs.DurationVar(&c.Shed.Latency, "api-shed-latency", c.Shed.Latency, "with --api-shed: how long accepted API requests may take on average under overload (0: 15ms)")
	fs.IntVar(&c.Shed.MinLimit, "api-shed-min-limit", c.Shed.MinLimit, "with --api-shed: API requests always served at once, never shed (0: 16, or 8 with --take-calls=false)")
	fs.IntVar(&c.Shed.MaxLimit, "api-shed-max-limit", c.Shed.MaxLimit, "with --api-shed: most API requests served at once (0: 128)")
	fs.DurationVar(&c.HTTP.IdleTimeout, "http-idle-timeout", c.HTTP.IdleTimeout, "an idle keep-alive connection is closed after this long")
	fs.DurationVar(&c.HTTP.ReadTimeout, "http-read-timeout", c.HTTP.ReadTimeout, "reading a request's body (API, webhooks; not media streams) must end within this after its headers")
	fs.DurationVar(&c.HTTP.WriteTimeout, "http-write-timeout", c.HTTP.WriteTimeout, "writing a response (API, webhooks; not media streams) must end within this")
	fs.IntVar(&c.HTTP.MaxConns, "max-connections", c.HTTP.MaxConns, "open connections on the public listener (media streams included); more wait to be accepted")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve /debug/pprof on the internal listener without a token; only when --internal-addr is loopback ("+envPprofToken+" serves it with a token)")
	fs.StringVar(&c.EspeakBinary, "espeak-binary", c.EspeakBinary, "espeak-ng binary of the offline text-to-speech")
	fs.IntVar(&c.EspeakWPM, "espeak-wpm", c.EspeakWPM, "offline text-to-speech speed, words per minute")
	fs.IntVar(&c.TTSCacheMiB, "tts-cache-mib", c.TTSCacheMiB, "MiB of synthesized sentences kept in memory, shared read-only by every call (greetings and stock replies repeat on every call); 0: no cache")
	fs.BoolVar(&c.Memory, "memory", c.Memory, "calls read their agent's patterns and their caller's record and latest calls, under --memory-deadline")
	fs.DurationVar(&c.Session.MemoryDeadline, "memory-deadline", c.Session.MemoryDeadline, "bound on each of a call's memory reads; what is not there by then is done without")
	fs.BoolVar(&c.Learning, "learning", c.Learning, "finished calls teach patterns and update their caller's memory (an agent's settings.learning can also turn it off)")
	fs.StringVar(&c.Telemetry.Endpoint, "otlp-endpoint", c.Telemetry.Endpoint,
		"OpenTelemetry traces: base URL of an OTLP/HTTP collector, e.g. http://jaeger:4318 (/v1/traces is appended); empty: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set")

	c.Monitor.flags(fs)

	fs.StringVar(&c.Cluster.Node, "node-name", c.Cluster.Node, "this node's name among the nodes sharing "+envRedisURL+", unique (the pod's name under Kubernetes; default: the host name)")
	fs.StringVar(&c.Cluster.Addr, "node-addr", c.Cluster.Addr, "host:port where the other nodes reach this node's public listener (the pod's IP and port under Kubernetes)")
	fs.IntVar(&c.MaxCalls, "max-calls", c.MaxCalls,
		fmt.Sprintf("this node's capacity in live calls: at it /readyz says not ready, a tenth above it new streams are refused; 0: %d per CPU the process may use (measured cost: about 0.8 ms of CPU a second per call)", callsPerCPU))
	fs.BoolVar(&c.TakeCalls, "take-calls", c.TakeCalls,
		"take media streams; false: a node that serves the control API and the webhooks only, beside nodes that take the calls (route /media/telnyx to those): ready while not draining, and no room for calls in the deployment's admission")
	fs.IntVar(&c.Cluster.OrgMaxCalls, "org-max-calls", c.Cluster.OrgMaxCalls, "calls one organization may have in progress at once, across the nodes sharing "+envRedisURL+" (0: no limit)")
	fs.StringVar(&c.Cluster.Prefix, "cluster-prefix", c.Cluster.Prefix, "prefix of the cluster's keys and channels in Redis: deployments sharing one Redis each set their own")
	fs.DurationVar(&c.Cluster.Heartbeat, "cluster-heartbeat", c.Cluster.Heartbeat, "with "+envRedisURL+": how often this node says it is alive and writes its calls' state")
	fs.DurationVar(&c.Cluster.LostAfter, "cluster-lost-after", c.Cluster.LostAfter, "with "+envRedisURL+": a node silent this long is lost, and its calls are recorded as ended (node_lost) by another node")
	fs.BoolVar(&c.Cluster.Recover, "recover-lost-calls", c.Cluster.Recover,
		"keep each call's state in Redis after every turn (the transcript so far and the caller's number: personal data), so that a lost node's calls are taken up again by the others on new streams instead of ending (node_lost); needs "+envRedisURL+", "+envTelnyxKey+" and --public-url")

	s := &c.Session
	fs.DurationVar(&s.VAD.MinSpeech, "vad-min-speech", s.VAD.MinSpeech, "voiced audio needed before the caller counts as speaking")
	fs.DurationVar(&s.VAD.MinSilence, "vad-min-silence", s.VAD.MinSilence, "silence that ends the caller's turn when they sound finished (their pitch fell, or their words end a sentence); an agent's settings.end_of_turn_min_ms overrides it")
	fs.DurationVar(&s.VAD.MaxSilence, "vad-max-silence", s.VAD.MaxSilence, "silence that ends the caller's turn when they sound mid-sentence (level or rising pitch, a filler); 0: always --vad-min-silence; an agent's settings.end_of_turn_max_ms overrides it")
	fs.DurationVar(&s.VAD.PauseMin, "vad-pause", s.VAD.PauseMin, "silence after which the transcriber is asked for the caller's words so far, to end the turn early when they end a sentence; 0: off")
	fs.DurationVar(&s.VAD.BargeInMin, "vad-barge-in-min", s.VAD.BargeInMin, "voiced speech over the agent that interrupts it (noise never does)")
	fs.DurationVar(&s.VAD.BackchannelMax, "vad-backchannel-max", s.VAD.BackchannelMax, "without a transcriber that streams interim words: speech over the agent shorter than this is a backchannel (mm-hmm) and does not interrupt; it delays every barge-in this long; 0: off")
	fs.DurationVar(&s.BargeInWordWait, "barge-in-word-wait", s.BargeInWordWait, "with a transcriber that streams interim words: how long the agent's held audio waits for the caller's first words to tell a backchannel from an interruption")
	fs.DurationVar(&s.VAD.Hangover, "vad-hangover", s.VAD.Hangover, "audio kept voiced after the level drops")
	fs.Float64Var(&s.VAD.ThresholdDB, "vad-threshold-db", s.VAD.ThresholdDB, "speech must be this far above the adaptive noise floor, dB")
	fs.Float64Var(&s.VAD.EchoMarginDB, "vad-echo-margin-db", s.VAD.EchoMarginDB, "while the agent talks, sound more than this many dB under the agent's own level cannot start the caller's turn: for lines that carry the agent's echo back (no echo canceller), 28 is the tested value; 0: off")
	fs.BoolVar(&s.VAD.EchoCancel, "vad-echo-cancel", s.VAD.EchoCancel, "on a line that sends the agent's voice back loud (no echo canceller in the network; it needs --vad-echo-learn), cancel that echo from the caller's audio with the agent's own audio before the voice detector hears it, so that neither the echo nor a noise over it is taken for the caller's voice (docs/BARGE-IN.md): about 30 us of CPU a frame and 32 KiB for such a call while the agent talks, nothing on other lines; a sound that starts with the greeting's first words, 10 dB or more under the agent, is taken for such an echo for up to 3 s")
	fs.BoolVar(&s.VAD.EchoLearn, "vad-echo-learn", s.VAD.EchoLearn, "while the agent talks, sound no louder than the agent's echo this line has been heard to send back cannot start the caller's turn: the gate learns each call's echo return loss, starting at 28 dB, and is under the noise floor within seconds on a line with an echo canceller; --vad-echo-margin-db, if set, replaces it with a fixed margin")
	fs.IntVar(&s.ReorderDepth, "reorder-depth", s.ReorderDepth, "later frames that may arrive before a missing frame is concealed")
	fs.DurationVar(&s.MaxDuration, "max-call-duration", s.MaxDuration, "calls longer than this are ended")
	fs.DurationVar(&s.MoveDelay, "drain-move-delay", s.MoveDelay,
		"a draining node that moves its calls to other nodes waits this long first, until the load balancer sends it no more streams (its readiness check interval)")
	fs.DurationVar(&s.IdleTimeout, "idle-timeout", s.IdleTimeout,
		"after this long without the caller speaking the agent asks whether they are still there, after as long again the call ends (caller_silent); an agent's settings.idle_timeout_seconds overrides it")
	fs.DurationVar(&s.TranscriptTimeout, "transcript-timeout", s.TranscriptTimeout, "wait for the final transcript after the caller stops")
	fs.DurationVar(&s.PlaybackGrace, "playback-grace", s.PlaybackGrace, "a reply counts as played this long after its audio ran out if Telnyx echoes no mark")

	fs.DurationVar(&c.Pacer.Lead, "pacer-lead", c.Pacer.Lead, "agent audio kept queued at Telnyx ahead of playback (barge-in waits for it)")
	fs.DurationVar(&c.Pacer.HoldLead, "pacer-hold-lead", c.Pacer.HoldLead, "agent audio Telnyx is given when a sound over the agent holds it: a barge-in decision within it resumes the agent with no gap")
	fs.DurationVar(&c.Pacer.MaxChunk, "pacer-chunk", c.Pacer.MaxChunk, "most agent audio per media message, whole 20 ms frames")
	fs.DurationVar(&c.Pacer.Keepalive, "ws-ping-interval", c.Pacer.Keepalive, "WebSocket ping interval on media streams")
	fs.IntVar(&c.Pacer.Shards, "pacer-shards", c.Pacer.Shards, "pacer goroutines (0: one per CPU)")

	fs.DurationVar(&c.Conn.ReadTimeout, "media-timeout", c.Conn.ReadTimeout, "a stream that sends nothing for this long is ended")
	fs.DurationVar(&c.Conn.WriteTimeout, "write-timeout", c.Conn.WriteTimeout, "how long a message to a media stream may wait to be written before the call ends as peer_stalled")
	fs.DurationVar(&c.Conn.HandshakeTimeout, "handshake-timeout", c.Conn.HandshakeTimeout, "wait for the connected and start frames")
	fs.IntVar(&c.Conn.MaxMessageBytes, "max-message-bytes", c.Conn.MaxMessageBytes, "largest media-stream frame read; larger ones are skipped and counted")
}

// The settings that hold secrets (passwords in URLs): environment only.
// These are the variables' names, never their values.
//
//nolint:gosec // G101: names of environment variables, not credentials
const (
	envDatabaseURL = "IACE_DATABASE_URL"
	envRedisURL    = "IACE_REDIS_URL"
	envAuthSecret  = "IACE_AUTH_SECRET"
	envPprofToken  = "IACE_PPROF_TOKEN"
	// TURN credentials for supervisors' browsers (--webrtc-ice-servers):
	// a secret shared with the TURN server, or a fixed pair.
	envTURNSecret   = "IACE_TURN_SECRET"
	envTURNUsername = "IACE_TURN_USERNAME"
	envTURNPassword = "IACE_TURN_PASSWORD"
)

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "IACE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// loadConfig builds the configuration from the defaults, the environment and
// the command line, in that order, and validates it.
func loadConfig(args []string, getenv func(string) string, usageOut io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("iace serve", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	cfg.flags(fs)
	fs.Usage = func() { printUsage(usageOut, fs) }
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
		}
	})
	cfg.DatabaseURL = getenv(envDatabaseURL)
	cfg.RedisURL = getenv(envRedisURL)
	cfg.LLMKey, cfg.DeepgramKey, cfg.TelnyxKey = getenv(envLLMKey), getenv(envDeepgramKey), getenv(envTelnyxKey)
	cfg.GoogleKey, cfg.EmbedKey, cfg.AuthSecret = getenv(envGoogleKey), getenv(envEmbedKey), getenv(envAuthSecret)
	cfg.StreamSecret = getenv(envStreamSecret)
	cfg.PprofToken = getenv(envPprofToken)
	cfg.Monitor.TURNSecret, cfg.Monitor.TURNUsername, cfg.Monitor.TURNPassword = getenv(envTURNSecret), getenv(envTURNUsername), getenv(envTURNPassword)
	cfg.Telemetry.fromOTELEnv(getenv)
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	var errs []error
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want auto, json or text", c.LogFormat))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain timeout %v: want >= 0", c.DrainTimeout))
	}
	if c.EspeakWPM < 80 || c.EspeakWPM > 450 {
		errs = append(errs, fmt.Errorf("espeak wpm %d: want 80 to 450", c.EspeakWPM))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if _, err := newAgentRouter(nil, c.DefaultAgent); err != nil {
		errs = append(errs, err)
	}
	switch c.STT {
	case "auto", "whisper":
	default:
		errs = append(errs, fmt.Errorf("stt %q: want auto or whisper", c.STT))
	}
	switch c.TTS {
	case "auto", "openai":
	default:
		errs = append(errs, fmt.Errorf("tts %q: want auto or openai", c.TTS))
	}
	switch c.Sentiment {
	case "model", "lexicon":
	default:
		errs = append(errs, fmt.Errorf("sentiment %q: want model or lexicon", c.Sentiment))
	}
	if c.RateIP < 0 || c.RateUser < 0 {
		errs = append(errs, errors.New("rate limits must be >= 0"))
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 32 {
		errs = append(errs, fmt.Errorf("%s is %d bytes: want at least 32 random bytes", envAuthSecret, len(c.AuthSecret)))
	}
	if err := c.validateControl(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateMonitor(); err != nil {
		errs = append(errs, err)
	}
	if c.TTSCacheMiB < 0 || c.TTSCacheMiB > 16<<10 {
		errs = append(errs, fmt.Errorf("tts cache %d MiB: want 0 (off) to 16384", c.TTSCacheMiB))
	}
	if c.Shed.Latency < 0 || c.Shed.MinLimit < 0 || c.Shed.MaxLimit < 0 || c.Shed.MaxLimit > 0 && c.Shed.MaxLimit < c.Shed.MinLimit {
		errs = append(errs, errors.New("api shed: latency and limits must be >= 0, the max limit at least the min"))
	}
	if c.MaxCalls < 0 {
		errs = append(errs, fmt.Errorf("max calls %d: want 0 (automatic) or more", c.MaxCalls))
	}
	if err := c.Cluster.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !c.TakeCalls && c.RedisURL == "" {
		// Alone, a node that takes no calls would answer calls no node
		// can hold.
		errs = append(errs, fmt.Errorf("--take-calls=false needs %s: the calls are the other nodes'", envRedisURL))
	}
	if c.Cluster.Recover && (c.RedisURL == "" || c.TelnyxKey == "" || c.PublicURL == "") {
		// Taking a call up asks Call Control for a new stream to the shared
		// public URL, from the state in Redis: without any of them it could
		// never happen, and the operator who asked for it should know.
		errs = append(errs, fmt.Errorf("--recover-lost-calls needs %s, %s and --public-url", envRedisURL, envTelnyxKey))
	}
	if err := c.Session.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Pacer.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pacer: %w", err))
	}
	if err := c.Conn.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("media stream: %w", err))
	}
	if err := c.Telemetry.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.HTTP.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.PprofToken != "" && len(c.PprofToken) < 32 {
		errs = append(errs, fmt.Errorf("%s is %d bytes: want at least 32 random bytes", envPprofToken, len(c.PprofToken)))
	}
	if c.Pprof && !isLoopback(c.InternalAddr) {
		errs = append(errs, fmt.Errorf("--pprof serves profiles without a token, so --internal-addr must be loopback, not %q; set %s instead", c.InternalAddr, envPprofToken))
	}
	return errors.Join(errs...)
}

// printUsage writes the table of serve's settings: every flag with its
// environment variable, then the environment-only ones (iace help serve).
func printUsage(w io.Writer, fs *flag.FlagSet) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "flag\tenvironment\tdefault\tmeaning")
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", f.Name, envName(f.Name), def, f.Usage)
	})
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tPostgreSQL URL; unset: the embedded database in --data-dir\n", envDatabaseURL)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tRedis URL for the shared agent and customer cache; unset: in-process cache only\n", envRedisURL)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tkey of the OpenAI-compatible chat API; unset: the offline rule-based agent\n", envLLMKey)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tDeepgram key (speech-to-text and Aura voice); unset: offline simulator and espeak-ng\n", envDeepgramKey)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tTelnyx API key for Call Control (transfer, hang-up); unset: calls end by closing the stream\n", envTelnyxKey)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tGoogle AI key: pattern embeddings by gemini-embedding-001; unset: %s or the offline embedder\n", envGoogleKey, envEmbedKey)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tkey of the /embeddings API at --embed-base-url\n", envEmbedKey)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tkey of the per-call media stream tokens, at least 32 random bytes, the same on every node; unset: a random key per process\n", envStreamSecret)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tbearer token for /debug/pprof on the internal listener, at least 32 random bytes; unset: pprof is off unless --pprof\n", envPprofToken)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tsecret shared with the TURN server of --webrtc-ice-servers (coturn use-auth-secret): each supervisor's session gets its own credentials for --webrtc-turn-ttl\n", envTURNSecret)
	fmt.Fprintf(tw, "(env only)\t%s, %s\t\"\"\ta fixed TURN username and password, given to every supervisor's session, instead of %s\n", envTURNUsername, envTURNPassword, envTURNSecret)
	fmt.Fprintf(tw, "(env only)\t%s\t\"\"\tcontrol API token signing key, at least 32 random bytes, the same on every node; unset: a random key per process (logins end at restart)\n", envAuthSecret)
	_ = tw.Flush()
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// callsPerCPU is the automatic capacity: measured, one core holds about
// 1,000 calls of the demo agent (docs/DEPLOYMENT.md, Sizing).
const callsPerCPU = 1000

// defaultClusterConfig is the cluster's defaults. The node's name is
// found at start when it is not set (nodeName).
func defaultClusterConfig() cluster.Config {
	return cluster.Config{Prefix: "iace:cluster:", Heartbeat: 2 * time.Second, LostAfter: 10 * time.Second}
}

// nodeName is --node-name, or the host's name (the pod's name under
// Kubernetes), or a random one.
func (c *config) nodeName() string {
	if c.Cluster.Node != "" {
		return c.Cluster.Node
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		return name
	}
	return "iace-" + rand.Text()[:8]
}

// capacity is the node's capacity in calls: --max-calls, or callsPerCPU
// for each CPU the Go scheduler uses (GOMAXPROCS follows the container's
// CPU limit).
func (c *config) capacity() int {
	if c.MaxCalls > 0 {
		return c.MaxCalls
	}
	return callsPerCPU * runtime.GOMAXPROCS(0)
}
