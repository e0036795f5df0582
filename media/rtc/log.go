package rtc

import (
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs sends pion's log lines to slog at debug level, with their scope
// (ice, dtls, pc...): pion logs errors for events of a normal teardown
// (a peer gone, a socket closed), which at warn level would be noise on
// every listener's end. What matters to operators is logged by this
// package itself.
type pionLogs struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level, msg string) { l.log.Debug(msg, "pion_level", level) }

func (l pionLogger) emitf(level, format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "pion_level", level)
}

func (pionLogger) Trace(string)                     {}
func (pionLogger) Tracef(string, ...any)            {}
func (pionLogger) Debug(string)                     {}
func (pionLogger) Debugf(string, ...any)            {}
func (pionLogger) Info(string)                      {}
func (pionLogger) Infof(string, ...any)             {}
func (l pionLogger) Warn(msg string)                { l.emit("warn", msg) }
func (l pionLogger) Warnf(format string, a ...any)  { l.emitf("warn", format, a...) }
func (l pionLogger) Error(msg string)               { l.emit("error", msg) }
func (l pionLogger) Errorf(format string, a ...any) { l.emitf("error", format, a...) }
