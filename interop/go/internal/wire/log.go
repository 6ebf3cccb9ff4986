package wire

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Logger writes lines in the console style of the Go nodes' logs:
//
//	INFO [11-27|04:50:00.000] plugin started addr=127.0.0.1:40000
//
// Values containing spaces, quotes or '=' are quoted.
type Logger struct {
	mu  sync.Mutex
	Out io.Writer // INFO
	Err io.Writer // WARN and ERROR
}

func (l *Logger) Info(msg string, kv ...interface{})  { l.write(l.Out, "INFO", msg, kv) }
func (l *Logger) Warn(msg string, kv ...interface{})  { l.write(l.Err, "WARN", msg, kv) }
func (l *Logger) Error(msg string, kv ...interface{}) { l.write(l.Err, "ERROR", msg, kv) }

// InfoErr writes an INFO line to the error stream.
func (l *Logger) InfoErr(msg string, kv ...interface{}) { l.write(l.Err, "INFO", msg, kv) }

func (l *Logger) write(w io.Writer, level, msg string, kv []interface{}) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] %s", level, time.Now().Format("01-02|15:04:05.000"), msg)
	for i := 0; i+1 < len(kv); i += 2 {
		v := fmt.Sprint(kv[i+1])
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %v=%s", kv[i], v)
	}
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(w, b.String())
}
